// Undo is data: whatever the transfer takes (a process, a temp dir, a connection) is pushed
// here the moment it is taken, and one loop gives it all back, newest first.

export class CleanupStack {
  private readonly undos: Array<{ readonly what: string; readonly undo: () => Promise<void> | void }> = [];

  push(what: string, undo: () => Promise<void> | void): void {
    this.undos.push({ what, undo });
  }

  // Runs every undo even when some fail; returns what failed, for the log.
  async runAll(): Promise<string[]> {
    const failures: string[] = [];
    while (this.undos.length > 0) {
      const { what, undo } = this.undos.pop()!;
      try {
        await undo();
      } catch (error) {
        failures.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return failures;
  }
}
