import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TurnResponse } from './http.ts';
import { parseUnknown } from './parse.ts';

describe('TurnResponse', () => {
  const creds = { username: '1767225600:device-0001', credential: 'bWFjLXZhbHVlLWluLWJhc2U2NA==' };
  const good = {
    iceServers: [
      { urls: ['turn:chat.example.org:3478?transport=udp'], ...creds },
      { urls: ['turn:chat.example.org:3478?transport=tcp'], ...creds },
      { urls: ['turns:chat.example.org:443?transport=tcp'], ...creds },
      { urls: ['turn:[2001:db8::1]:3478'], ...creds },
    ],
    ttl: 43200,
  };

  test('accepts the ICE server list the server hands out', () => {
    assert.deepEqual(parseUnknown(TurnResponse, good, 'turn'), good);
  });

  test('refuses other schemes, empty credentials and a bad ttl', () => {
    const bad: unknown[] = [
      { ...good, iceServers: [{ urls: ['stun:chat.example.org:3478'], ...creds }] },
      { ...good, iceServers: [{ urls: ['https://chat.example.org/'], ...creds }] },
      { ...good, iceServers: [{ urls: ['turn:a b:3478'], ...creds }] },
      { ...good, iceServers: [{ urls: [], ...creds }] },
      { ...good, iceServers: [{ urls: ['turn:h:1'], username: '', credential: 'x' }] },
      { ...good, ttl: 0 },
      { ...good, ttl: 1.5 },
      { iceServers: good.iceServers },
    ];
    for (const b of bad) assert.throws(() => parseUnknown(TurnResponse, b, 'turn'), JSON.stringify(b));
  });
});
