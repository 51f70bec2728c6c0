// Who runs a command that records an operator's decision (clear, ack): the user behind sudo when
// there is one, else this process's user.

import { userInfo } from 'node:os';

export function operatorName(): string {
  const sudo = process.env.SUDO_USER;
  const self = userInfo().username;
  return sudo !== undefined && sudo !== '' && sudo !== self ? `${sudo} (via sudo as ${self})` : self;
}
