// Turns a child's byte stream into complete lines, and keeps a bounded tail of its stderr, for
// both node kinds (this host and SSH) so they report output the same way.

const STDERR_LIMIT = 64 * 1024;

// Splits chunks into lines (a trailing partial line waits for its newline or for end()).
export class LineSplitter {
  private pending = '';
  private readonly listeners: Array<(line: string) => void> = [];
  private readonly decoder = new TextDecoder();

  onLine(listener: (line: string) => void): void {
    this.listeners.push(listener);
  }

  push(chunk: Buffer | string): void {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    let newline = this.pending.indexOf('\n');
    while (newline !== -1) {
      const line = this.pending.slice(0, newline).replace(/\r$/, '');
      this.pending = this.pending.slice(newline + 1);
      this.emit(line);
      newline = this.pending.indexOf('\n');
    }
  }

  end(): void {
    this.pending += this.decoder.decode();
    if (this.pending !== '') this.emit(this.pending);
    this.pending = '';
  }

  private emit(line: string): void {
    for (const listener of this.listeners) listener(line);
  }
}

// Keeps the last STDERR_LIMIT characters: enough for an error message, flat in memory.
export class BoundedText {
  private text = '';

  constructor(private readonly limit = STDERR_LIMIT) {}

  push(chunk: Buffer | string): void {
    this.text += chunk.toString();
    if (this.text.length > this.limit) this.text = this.text.slice(-this.limit);
  }

  toString(): string {
    return this.text;
  }
}
