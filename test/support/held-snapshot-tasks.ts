// vSphere makes a snapshot in a task that goes on after CreateSnapshot_Task has answered; vcsim
// makes it before answering. FAKED for the tests, in the CBT proxy (vsphere-cbt-proxy.ts): while
// holding, a CreateSnapshot_Task is answered at once with a task of our own, which RetrievePropertiesEx
// shows running and TaskManager lists among its recent tasks; nothing is made until release()
// passes the held calls on to vcsim, after which our task's id stands for the one vcsim made.

export type Forward = (headers: Readonly<Record<string, string>>, body: string) => Promise<string>;

interface HeldCall {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly vm: string;
  real?: string;
}

export class HeldSnapshotTasks {
  private holding = true;
  private readonly held = new Map<string, HeldCall>();

  constructor(private readonly forward: Forward) {}

  /** The answer to give instead of vcsim's, or undefined to pass the call on. */
  answer(method: string, body: string, headers: Readonly<Record<string, string>>): string | undefined {
    if (method === 'CreateSnapshot_Task' && this.holding) {
      const id = `task-held-${this.held.size + 1}`;
      this.held.set(id, { headers, body, vm: /<_this type="VirtualMachine">([^<]+)</.exec(body)?.[1] ?? '' });
      return response(method, `<returnval type="Task">${id}</returnval>`);
    }
    if (method !== 'RetrievePropertiesEx') return undefined;
    const [id, call] = [...this.held].find(([each]) => body.includes(`>${each}<`)) ?? [];
    if (id === undefined || call === undefined || call.real !== undefined) return undefined;
    return response(
      method,
      `<returnval><objects><obj type="Task">${id}</obj><propSet><name>info</name><val xsi:type="TaskInfo"><key>${id}</key><task type="Task">${id}</task><name>CreateSnapshot_Task</name><descriptionId>VirtualMachine.createSnapshot</descriptionId><entity type="VirtualMachine">${call.vm}</entity><state>running</state><cancelled>false</cancelled><cancelable>false</cancelable></val></propSet></objects></returnval>`,
    );
  }

  /** The call with our released tasks' ids as vcsim's. */
  rewrite(body: string): string {
    let out = body;
    for (const [id, call] of this.held) if (call.real !== undefined) out = out.split(`>${id}<`).join(`>${call.real}<`);
    return out;
  }

  /** TaskManager's recentTask as vcsim answered it, with the tasks still held added. */
  withHeldRecent(answer: string): string {
    const still = [...this.held].filter(([, call]) => call.real === undefined).map(([id]) => id);
    const list = /(<val [^>]*ArrayOfManagedObjectReference[^>]*>)([\s\S]*?)(<\/val>)/.exec(answer);
    if (still.length === 0 || list === null) return answer;
    const added = still.map((id) => `<ManagedObjectReference type="Task">${id}</ManagedObjectReference>`).join('');
    return answer.replace(list[0], `${list[1]}${list[2]}${added}${list[3]}`);
  }

  /** vcsim makes every held snapshot now; later ones are made at once, as before. */
  async release(): Promise<void> {
    this.holding = false;
    for (const call of this.held.values()) {
      if (call.real !== undefined) continue;
      const answer = await this.forward(call.headers, call.body);
      const real = /<returnval type="Task">([^<]+)</.exec(answer)?.[1];
      if (real === undefined) throw new Error(`vcsim did not make the held snapshot: ${answer}`);
      call.real = real;
    }
  }
}

function response(method: string, inner: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><${method}Response xmlns="urn:vim25">${inner}</${method}Response></soapenv:Body></soapenv:Envelope>`;
}
