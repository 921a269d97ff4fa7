/**
 * Community proxies in the web app (issue 5): a `kolokol://proxy` link that arrives in a chat is
 * one tap to add, a pasted one is added in Settings, a malformed one is refused with a reason, and
 * what was added is kept on the device (the SDK's fronts, which take over when the server's own
 * address fails: packages/testkit/test/fronts.test.ts and the censorship matrix test that part).
 */
import { after, before, describe, test } from 'node:test';
import {
  type App,
  chatBetween,
  hasChromium,
  message,
  type Person,
  send,
  signUp,
  startApp,
  visible,
} from './helpers.ts';

describe('proxy links in the web app', { skip: !hasChromium }, () => {
  let app: App;
  let alice: Person;
  let bob: Person;
  before(async () => {
    app = await startApp();
    alice = await signUp(app, 'alice', 'Alice');
    bob = await signUp(app, 'bob', 'Bob');
    await chatBetween(alice, bob, 'hello bob');
  });
  after(async () => {
    await app?.close();
  });

  const network = (p: Person) => p.page.getByRole('region', { name: 'Ways to the server' });
  const openSettings = async (p: Person) => {
    await p.page.getByRole('button', { name: 'Settings' }).first().click();
    await visible(network(p));
  };

  test('a link in a chat is one tap to add; the proxy is listed and kept after a reload', async () => {
    await send(alice, 'if the site is blocked: kolokol://proxy?host=203.0.113.7&port=8443');
    const msg = message(bob, 'kolokol://proxy?host=203.0.113.7');
    await visible(msg, 30_000);
    await msg.getByRole('button', { name: 'Add this proxy' }).click();
    await visible(bob.page.getByText('Proxy added: https://203.0.113.7:8443'));
    await openSettings(bob);
    const list = network(bob).getByRole('list', { name: 'Server addresses' });
    await visible(list.getByRole('listitem').filter({ hasText: 'https://203.0.113.7:8443' }));
    await visible(list.getByRole('listitem').filter({ hasText: 'in use' }));
    await bob.page.reload();
    await openSettings(bob);
    await visible(
      network(bob)
        .getByRole('list', { name: 'Server addresses' })
        .getByRole('listitem')
        .filter({ hasText: 'https://203.0.113.7:8443' }),
      30_000,
    );
  });

  test('a pasted link is added in Settings; a malformed one is refused', async () => {
    await openSettings(alice);
    const input = network(alice).getByLabel('Proxy link');
    await input.fill('kolokol://proxy?host=&port=443');
    await network(alice).getByRole('button', { name: 'Add proxy' }).click();
    await visible(network(alice).getByText('This is not a kolokol://proxy link with a host and a port.'));
    await input.fill('kolokol://proxy?host=proxy.example.org');
    await network(alice).getByRole('button', { name: 'Add proxy' }).click();
    await visible(
      network(alice)
        .getByRole('list', { name: 'Server addresses' })
        .getByRole('listitem')
        .filter({ hasText: 'https://proxy.example.org' }),
    );
  });
});
