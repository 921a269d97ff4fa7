/**
 * What the SDK needs from a media stack. The SDK never touches WebRTC: `@kolokol/calls`
 * implements this over RTCPeerConnection in browsers, and the SDK's tests implement it in Node
 * (which has no WebRTC). Strings are SDP and ICE candidate lines as RTCPeerConnection uses them.
 */
import type { MlsSFrameEpoch } from '@kolokol/crypto';
import type { IceTransportPolicy } from './policy.ts';

export type MediaState = 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

export interface MediaEngineOptions {
  callId: string;
  conversationId: string;
  peerUserId: string;
  role: 'caller' | 'callee';
  video: boolean;
  /** Decided by the SDK per call: 'relay' unless the peer is one of the user's contacts. */
  iceTransportPolicy: IceTransportPolicy;
}

export interface MediaEngine {
  /** Caller: the first offer (SDP). */
  createOffer(): Promise<string>;
  /** Callee: after applyRemote(offer, 'offer'). */
  createAnswer(): Promise<string>;
  applyRemote(sdp: string, type: 'offer' | 'answer'): Promise<void>;
  addCandidate(candidate: string): Promise<void>;
  /** A new offer with fresh ICE credentials (the caller sends it as a restart offer). */
  restartIce(): Promise<string>;
  /** Each local ICE candidate line as it is gathered; the SDK filters them by policy. */
  onLocalCandidate(fn: (candidate: string) => void): void;
  /** 'disconnected' means media stalled (the caller then restarts ICE); 'failed' ends the call. */
  onStateChange(fn: (state: MediaState) => void): void;
  /** SFrame keys of the conversation's current MLS epoch; called again after every epoch change. */
  setKeys?(keys: MlsSFrameEpoch): void;
  close(): void;
}

export type MediaEngineFactory = (o: MediaEngineOptions) => MediaEngine | Promise<MediaEngine>;
