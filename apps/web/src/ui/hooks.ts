import { createContext, useContext, useEffect, useState, useSyncExternalStore } from 'react';
import { parseRoute, type Route, routeHash } from '../lib/route.ts';
import type { Messenger } from '../messenger.ts';

export const MessengerContext = createContext<Messenger | undefined>(undefined);

/** The messenger, re-rendering the caller on every change (the state is small; React diffing keeps it cheap). */
export function useMessenger(): Messenger {
  const m = useContext(MessengerContext);
  if (m === undefined) throw new Error('useMessenger outside MessengerContext');
  useSyncExternalStore(m.subscribe, m.getVersion);
  return m;
}

export function useRoute(): Route {
  const [hash, setHash] = useState(() => location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return parseRoute(hash);
}

export function go(r: Route): void {
  const h = routeHash(r);
  if (location.hash !== h) location.hash = h;
}

export function useMediaQuery(q: string): boolean {
  const [match, setMatch] = useState(() => window.matchMedia(q).matches);
  useEffect(() => {
    const mq = window.matchMedia(q);
    const on = () => setMatch(mq.matches);
    mq.addEventListener('change', on);
    return () => mq.removeEventListener('change', on);
  }, [q]);
  return match;
}
