import { Counter, collectDefaultMetrics, Gauge, type OpenMetricsContentType, Registry } from 'prom-client';

/** One registry per server instance, so that several servers can share a process (tests). */
export function createMetrics() {
  const registry = new Registry<OpenMetricsContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    sockets: new Gauge({
      name: 'kolokol_ws_connections',
      help: 'Open WebSocket connections',
      registers: [registry],
    }),
    accepted: new Counter({
      name: 'kolokol_messages_accepted',
      help: 'Messages accepted (stored and acknowledged), by kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    delivered: new Counter({
      name: 'kolokol_mailbox_deliveries',
      help: 'Mailbox items pushed to devices (redeliveries included)',
      registers: [registry],
    }),
    acked: new Counter({
      name: 'kolokol_mailbox_acks',
      help: 'Mailbox items acknowledged',
      registers: [registry],
    }),
    http: new Counter({
      name: 'kolokol_http_requests',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    readPauses: new Counter({
      name: 'kolokol_ws_read_pauses',
      help: 'Times a socket stopped being read because its unhandled frames piled up',
      registers: [registry],
    }),
    busConnected: new Gauge({
      name: 'kolokol_bus_connected',
      help: 'Whether the node is connected to its bus (always 1 for the in-process bus)',
      registers: [registry],
    }),
    busReconnects: new Counter({
      name: 'kolokol_bus_reconnects',
      help: 'Reconnects to NATS (each re-reads the mailboxes of the devices connected here)',
      registers: [registry],
    }),
    closes: new Counter({
      name: 'kolokol_ws_closes',
      help: 'WebSocket connections closed by the server, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
