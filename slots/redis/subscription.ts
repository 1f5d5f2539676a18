import type { Cluster, Redis } from 'ioredis';

/**
 * One channel listened to on a connection of its own, a duplicate of the store's client, that
 * reconnects by itself and subscribes again each time it is back.
 *
 * On a Redis client the subscription is renewed here, not by ioredis's `autoResubscribe`: ioredis
 * drops the promise of the SUBSCRIBE it sends on reconnecting, so a connection closed before that
 * SUBSCRIBE is answered (a store closed just as Redis came back) rejected it unhandled, which ends
 * a Node process. On a Cluster client the subscriber connection is ioredis's (ClusterSubscriber),
 * which subscribes again on a node of its choice and catches what fails.
 */
export class RedisSubscription {
  /** Whether the first SUBSCRIBE was answered: from then on, each reconnect subscribes again. */
  private opened = false;
  /** Whether a SUBSCRIBE was answered on the connection now open. */
  private subscribed = false;
  private stopped = false;
  /** Fails the first SUBSCRIBE, while start() waits for it. */
  private onStop: (() => void) | undefined;

  private readonly connection: Redis | Cluster;

  /** Opens the connection (a duplicate of `client`), which calls `onMessage` with each message of `channel`. */
  constructor(
    client: Redis | Cluster,
    private readonly channel: string,
    onMessage: (message: string) => void,
  ) {
    const connection = client.isCluster ? client.duplicate() : (client as Redis).duplicate({ autoResubscribe: false });
    connection.on('error', () => {}); // reconnects by itself; a lost event is caught up by the next pass
    connection.on('message', (_channel: string, message: string) => onMessage(message));
    if (!connection.isCluster) {
      connection.on('close', () => (this.subscribed = false));
      connection.on('ready', () => this.renew());
    }
    this.connection = connection;
  }

  /**
   * Subscribes, the first time. Rejects when that fails (or stop() comes first), and closes the
   * connection then: left open, it would reconnect forever and keep the process alive.
   */
  async start(): Promise<void> {
    // Not left to the SUBSCRIBE alone: stopped while it waits to reconnect, ioredis never settles it.
    const stopped = new Promise<never>(
      (_, reject) => (this.onStop = () => reject(new Error('the subscription was closed before Redis answered its SUBSCRIBE'))),
    );
    try {
      await Promise.race([this.connection.subscribe(this.channel), stopped]);
    } catch (error) {
      this.stop();
      throw error;
    } finally {
      this.onStop = undefined;
    }
    this.opened = this.subscribed = !this.stopped;
  }

  /** Subscribed on a connection that is up now: false while it reconnects, and once stopped. */
  get listening(): boolean {
    if (this.stopped) return false;
    // A Cluster client's subscriber connection is out of sight: its client's state stands for it.
    return this.connection.isCluster ? this.connection.status === 'ready' : this.subscribed;
  }

  /** Closes the connection. A SUBSCRIBE on its way fails: the first one fails start(); a renewal's is ignored. */
  stop(): void {
    this.stopped = true;
    this.subscribed = false;
    this.connection.disconnect();
    this.onStop?.();
  }

  /** After a reconnect: the new connection listens to nothing yet. */
  private renew(): void {
    // The first 'ready' comes before the first SUBSCRIBE is sent, which start() awaits itself.
    if (this.stopped || !this.opened) return;
    this.connection.subscribe(this.channel).then(
      () => (this.subscribed = !this.stopped),
      // Closed on the way (stopped, or lost again: the next 'ready' tries again), or refused;
      // meanwhile `listening` says no, and the passes stand in for the events.
      () => {},
    );
  }
}
