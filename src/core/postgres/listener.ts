import type pg from 'pg';
import { loadPeer } from '../peers.js';

/** Options of {@link PgListener}. */
export interface PgListenerOptions {
  /** Connection settings of the dedicated client (e.g. a pool's `options`). */
  connection: pg.ClientConfig;
  /** Channels to LISTEN on; quoted, so case and characters such as `#` are kept. */
  channels: readonly string[];
  /**
   * Called with each notification's channel and payload, which anyone with access to the database
   * may send. It must not throw: it runs inside pg's socket handler, where a throw crashes the process.
   */
  onNotification(channel: string, payload: string): void;
  /** Called after the connection was lost and listening resumed: notifications in between are lost. */
  onReconnect?(): void;
  /**
   * Delay before trying to connect again after a failure.
   * @defaultValue 1000
   */
  retryMs?: number;
}

/**
 * A LISTEN connection of its own, outside any pool (a pooled connection may be handed to someone
 * else, and LISTEN is per session), that reconnects by itself. Notifications sent while it is
 * disconnected are lost, which is why every user of it also polls.
 */
export class PgListener {
  private client: pg.Client | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly options: PgListenerOptions) {}

  /** Connected and listening now: false while it reconnects, and once stopped. */
  get listening(): boolean {
    return this.client !== undefined && !this.stopped;
  }

  /** Connects and listens; rejects if the first connection fails (later ones are retried). */
  async start(): Promise<void> {
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    const { Client } = loadPeer('pg', 'a PostgreSQL LISTEN connection');
    const client = new Client(this.options.connection);
    // An idle LISTEN connection can still die (server restart, network): start over when it does.
    client.on('error', () => this.reconnectLater(client));
    client.on('end', () => this.reconnectLater(client));
    client.on('notification', (message) => this.options.onNotification(message.channel, message.payload ?? ''));
    try {
      await client.connect();
      for (const channel of this.options.channels) await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
    } catch (error) {
      // Connected but not listening (the connection dropped half way): do not leave it open.
      client.end().catch(() => {});
      throw error;
    }
    if (this.stopped) {
      await client.end();
      return;
    }
    this.client = client;
  }

  private reconnectLater(client: pg.Client): void {
    if (this.stopped || this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => {});
    const attempt = () => {
      this.retry = undefined;
      if (this.stopped) return;
      this.connect().then(
        () => {
          // Not after stop(): connect() then returns without listening.
          if (!this.stopped) this.options.onReconnect?.();
        },
        () => {
          this.retry = setTimeout(attempt, this.options.retryMs ?? 1000);
          this.retry.unref();
        },
      );
    };
    attempt();
  }
}
