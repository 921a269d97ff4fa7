/**
 * Who may reach me: the consent rules in Settings. Each change goes through the SDK, which keeps
 * the rules in this device's store and sends them, end-to-end encrypted, to the account's other
 * devices; a change there shows here through the ConsentRules event.
 */
import { type Audience, type ConsentKind, type ConsentRules, effectiveRules, type Rule } from '@kolokol/sdk';
import { useEffect, useId, useState } from 'react';
import type { Key } from '../i18n/catalog.ts';
import { useT } from '../i18n/react.ts';
import { normalizeUsername } from '../lib/route.ts';
import { ext } from '../sdk/ext.ts';
import { IconButton } from './common.tsx';
import { useMessenger } from './hooks.ts';
import { Toggle } from './Settings.tsx';

const KINDS: readonly ConsentKind[] = ['messages', 'calls', 'groups', 'p2p'];
const AUDIENCES: readonly Audience[] = ['everybody', 'contacts', 'nobody'];

const TITLE: Record<ConsentKind, Key> = {
  messages: 'rules.messages',
  calls: 'rules.calls',
  groups: 'rules.groups',
  p2p: 'rules.p2p',
};
const HINT: Record<ConsentKind, Key> = {
  messages: 'rules.messagesHint',
  calls: 'rules.callsHint',
  groups: 'rules.groupsHint',
  p2p: 'rules.p2pHint',
};
const AUDIENCE: Record<Audience, Key> = {
  everybody: 'rules.everybody',
  contacts: 'rules.contacts',
  nobody: 'rules.nobody',
};

export function PrivacyRules() {
  const m = useMessenger();
  const { t } = useT();
  const rules = m.consent.rules;
  const eff = effectiveRules(rules);
  const save = async (patch: Partial<ConsentRules>) => {
    try {
      await m.consent.setRules(patch);
    } catch (e) {
      m.toast(m.errorText(e), 'error');
    }
  };
  return (
    <section className="card-section" aria-labelledby="s-rules">
      <h3 id="s-rules">{t('rules.title')}</h3>
      <p className="hint">{t('rules.intro')}</p>
      <p>
        <a href="#/requests">{t('requests.link')}</a>
      </p>
      <Toggle
        label={t('rules.strict')}
        hint={t('rules.strictHint')}
        checked={rules.strict}
        onChange={(v) => void save({ strict: v })}
      />
      <Toggle
        label={t('rules.silence')}
        hint={t('rules.silenceHint')}
        checked={eff.silenceUnknownCallers}
        onChange={(v) => void save({ silenceUnknownCallers: v })}
      />
      {KINDS.map((kind) => (
        <RuleEditor
          key={kind}
          kind={kind}
          rule={rules[kind]}
          forced={eff[kind].who !== rules[kind].who ? eff[kind].who : undefined}
          onChange={(r) => void save({ [kind]: r })}
        />
      ))}
    </section>
  );
}

function RuleEditor({
  kind,
  rule,
  forced,
  onChange,
}: {
  kind: ConsentKind;
  rule: Rule;
  /** What strict mode makes of this rule, when it is stricter than the choice. */
  forced: Audience | undefined;
  onChange: (r: Rule) => void;
}) {
  const { t } = useT();
  const name = useId();
  const hintId = useId();
  return (
    <fieldset className="rule" data-kind={kind}>
      <legend>{t(TITLE[kind])}</legend>
      <p className="hint" id={hintId}>
        {t(HINT[kind])}
      </p>
      <div className="segmented" role="radiogroup" aria-describedby={hintId}>
        {AUDIENCES.map((a) => (
          <label key={a} className="choice">
            <input
              type="radio"
              name={name}
              value={a}
              checked={rule.who === a}
              onChange={() => onChange({ ...rule, who: a })}
            />{' '}
            {t(AUDIENCE[a])}
          </label>
        ))}
      </div>
      {forced !== undefined && (
        <p className="hint warn">{t('rules.strictForces', { who: t(AUDIENCE[forced]) })}</p>
      )}
      <UserList
        kind={kind}
        label={t('rules.allow')}
        ids={rule.allow}
        onChange={(allow) => onChange({ ...rule, allow, deny: rule.deny.filter((u) => !allow.includes(u)) })}
      />
      <UserList
        kind={kind}
        label={t('rules.deny')}
        ids={rule.deny}
        onChange={(deny) => onChange({ ...rule, deny, allow: rule.allow.filter((u) => !deny.includes(u)) })}
      />
    </fieldset>
  );
}

/** An always- or never-allow list: people by username, stored by userId. */
function UserList({
  kind,
  label,
  ids,
  onChange,
}: {
  kind: ConsentKind;
  label: string;
  ids: readonly string[];
  onChange: (ids: string[]) => void;
}) {
  const m = useMessenger();
  const { t } = useT();
  const [input, setInput] = useState('');
  const [error, setError] = useState<string>();
  const [names, setNames] = useState<Record<string, string>>({});
  const inputId = useId();
  const nameOf = (id: string) => names[id] ?? m.usernameOf(id);
  useEffect(() => {
    // A list synced from another device may name people this device never talked to.
    const profile = ext(m.client).profile;
    if (profile === undefined) return;
    for (const id of ids)
      if (m.usernameOf(id) === id && names[id] === undefined)
        void profile(id)
          .then((p) => {
            if (p !== undefined) setNames((n) => ({ ...n, [id]: p.username }));
          })
          .catch(() => {});
  }, [ids, m, names]);
  return (
    <div className="user-list" data-list={`${kind}-${label}`}>
      <label htmlFor={inputId}>{label}</label>
      {ids.length > 0 && (
        <ul className="chips">
          {ids.map((id) => (
            <li key={id} className="chip">
              @{nameOf(id)}
              <IconButton
                icon="close"
                label={t('rules.remove', { name: nameOf(id) })}
                onClick={() => onChange(ids.filter((x) => x !== id))}
              />
            </li>
          ))}
        </ul>
      )}
      <form
        className="row"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(undefined);
          const username = normalizeUsername(input);
          if (username === '') return;
          try {
            const u = await m.client.searchUser(username);
            if (u === undefined) {
              setError(t('rules.noSuchUser', { username }));
              return;
            }
            setNames((n) => ({ ...n, [u.userId]: u.username }));
            if (!ids.includes(u.userId)) onChange([...ids, u.userId]);
            setInput('');
          } catch (err) {
            setError(m.errorText(err));
          }
        }}
      >
        <input
          id={inputId}
          className="grow"
          placeholder={t('rules.placeholder')}
          value={input}
          onChange={(e) => setInput(e.target.value)}
        />
        <button type="submit" className="button small">
          {t('rules.add')}
        </button>
      </form>
      {error !== undefined && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
