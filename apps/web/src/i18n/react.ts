/** i18next set up over our catalogues: language from the saved choice or the browser, switchable at run time. */
import i18next from 'i18next';
import { initReactI18next, useTranslation } from 'react-i18next';
import {
  catalogs,
  type Key,
  type Language,
  type PluralBase,
  pickLanguage,
  translatePlural,
  type Vars,
} from './catalog.ts';

export function resolveLanguage(choice: 'auto' | Language): Language {
  return choice === 'auto' ? pickLanguage(navigator.languages ?? [navigator.language]) : choice;
}

export async function initI18n(choice: 'auto' | Language): Promise<void> {
  const lng = resolveLanguage(choice);
  await i18next.use(initReactI18next).init({
    resources: { en: { translation: catalogs.en }, ru: { translation: catalogs.ru } },
    lng,
    fallbackLng: 'en',
    keySeparator: false,
    nsSeparator: false,
    interpolation: { escapeValue: false },
    returnNull: false,
  });
  document.documentElement.lang = lng;
  // On the first visit the worker takes control only after the app has told the language to no
  // one; tell it again then, or its notifications follow the browser instead of the setting.
  navigator.serviceWorker?.addEventListener('controllerchange', () =>
    navigator.serviceWorker.controller?.postMessage({ type: 'language', lang: currentLanguage() }),
  );
}

export async function setLanguage(choice: 'auto' | Language): Promise<void> {
  const lng = resolveLanguage(choice);
  await i18next.changeLanguage(lng);
  document.documentElement.lang = lng;
  // The service worker words push notifications in the same language.
  navigator.serviceWorker?.controller?.postMessage({ type: 'language', lang: lng });
}

export function currentLanguage(): Language {
  return i18next.language === 'ru' ? 'ru' : 'en';
}

export type T = (key: Key, vars?: Vars) => string;

/** The typed translate function and the plural helper for the current language. */
export function useT(): {
  t: T;
  tp: (base: PluralBase, count: number, vars?: Vars) => string;
  lang: Language;
} {
  const { t, i18n } = useTranslation();
  const lang: Language = i18n.language === 'ru' ? 'ru' : 'en';
  const tt = t as unknown as (k: string, o?: Vars) => string;
  return {
    t: (key, vars) => tt(key, vars),
    tp: (base, count, vars) => translatePlural(lang, base, count, vars),
    lang,
  };
}
