/**
 * Reads server-sent events over a real HTTP connection (`fetch`), as a browser's EventSource
 * would parse them: `event:` and `data:` fields, comment lines (`: …`) kept apart, since the
 * tests look at heartbeats too.
 */
export interface StreamEvent {
  event: string;
  data: string;
}

export class EventStreamReader {
  readonly response: Response;
  private readonly controller: AbortController;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private buffer = '';
  /** Comment lines seen so far, without their colon. */
  readonly comments: string[] = [];

  private constructor(response: Response, controller: AbortController) {
    this.response = response;
    this.controller = controller;
    this.reader = response.body!.getReader();
  }

  /** Opens `url`; the response is there even when its status is not 200. */
  static async open(url: string, headers: Record<string, string> = {}): Promise<EventStreamReader> {
    const controller = new AbortController();
    const response = await fetch(url, { headers, signal: controller.signal });
    return new EventStreamReader(response, controller);
  }

  /** The next event with data (a `retry:` block alone is not one); fails after `ms`. */
  async next(ms = 5000): Promise<StreamEvent> {
    const until = Date.now() + ms;
    for (;;) {
      const block = this.takeBlock();
      if (block !== undefined) {
        const event = this.parse(block);
        if (event) return event;
        continue;
      }
      const left = until - Date.now();
      if (left <= 0) throw new Error(`no server-sent event within ${ms} ms`);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>(
        (_, reject) => (timer = setTimeout(() => reject(new Error(`no server-sent event within ${ms} ms`)), left)),
      );
      try {
        const { value, done } = await Promise.race([this.reader.read(), timeout]);
        if (done) throw new Error('the event stream ended');
        this.buffer += this.decoder.decode(value, { stream: true });
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /** The next event named `name`, skipping others; fails after `ms`. */
  async nextNamed(name: string, ms = 5000): Promise<StreamEvent> {
    const until = Date.now() + ms;
    for (;;) {
      const event = await this.next(Math.max(1, until - Date.now()));
      if (event.event === name) return event;
    }
  }

  /** Closes the connection, as a page going away does. */
  close(): void {
    this.controller.abort();
  }

  private takeBlock(): string | undefined {
    const end = this.buffer.indexOf('\n\n');
    if (end < 0) return undefined;
    const block = this.buffer.slice(0, end);
    this.buffer = this.buffer.slice(end + 2);
    return block;
  }

  private parse(block: string): StreamEvent | undefined {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
      else if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    return data.length > 0 ? { event, data: data.join('\n') } : undefined;
  }
}
