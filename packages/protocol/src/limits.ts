/** Protocol-wide limits. The server may configure lower ones; never higher. */
export const Limits = {
  /** Largest WebSocket frame the server accepts (an MLS commit for a large group fits). */
  maxFrameBytes: 1024 * 1024,
  /** Largest opaque MLS message body (application message, commit, welcome), in bytes. */
  maxMessageBytes: 512 * 1024,
  maxKeyPackageBytes: 16 * 1024,
  maxKeyPackagesPerUpload: 100,
  /** Mailbox items pushed to a connection before it must acknowledge some. */
  maxInFlight: 256,
  maxGroupMembers: 1000,
  maxDeviceNameLength: 64,
} as const;

/** Protocol version spoken on the WebSocket; bumped on incompatible changes. */
export const PROTOCOL_VERSION = 1;
