// "1 disk", "2 disks": counts in messages read as English.

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
