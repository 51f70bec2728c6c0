// A vSphere Web Services (vim25) SOAP client: the calls sendense-run makes (docs/vmware.md),
// over one pinned TLS agent. The session cookie is the only credential kept; the password goes
// into the Login body and nowhere else.

import https from 'node:https';
import type { Element } from '@xmldom/xmldom';
import { SendenseError } from '../errors.js';
import { addSecret } from '../secrets/mask.js';
import { pinnedAgent, type CertificatePin } from './pinned-agent.js';
import {
  child,
  childElements,
  childText,
  descendant,
  envelope,
  faultOf,
  moRefOf,
  moRefXml,
  parseXml,
  xmlEscape,
  type MoRef,
} from './soap-xml.js';

/** The cookie vSphere names its session with. */
export const SESSION_COOKIE = 'vmware_soap_session';
const SOAP_ACTION = 'urn:vim25/6.7';
const CALL_TIMEOUT_MS = 120_000;

/** A SOAP fault vSphere answered with, its fault type kept for the caller's decision. */
export class VimFault extends SendenseError {
  constructor(
    readonly method: string,
    readonly faultType: string | undefined,
    message: string,
    /** The parameter an InvalidArgument fault names ("changeId"). */
    readonly invalidProperty?: string,
  ) {
    super(`vSphere refused ${method}: ${message}${faultType ? ` (${faultType})` : ''}`);
  }
}

/** A task still queued or running when its waiter gave up: vSphere goes on with it. */
export class TaskStillRunning extends SendenseError {
  constructor(
    readonly method: string,
    readonly task: MoRef,
  ) {
    super(`vSphere's ${method} task ${task.value} is still running`);
  }
}

/** A task's info as it stands: `state` is queued, running, success or error. */
export interface TaskState {
  readonly state: string;
  readonly result: Element | undefined;
  readonly faultType: string | undefined;
  readonly message: string | undefined;
  /** What it does, e.g. VirtualMachine.createSnapshot. */
  readonly descriptionId: string | undefined;
  /** The moref value of the object it works on (a VM's). */
  readonly entity: string | undefined;
}

interface ServiceContent {
  readonly propertyCollector: MoRef;
  readonly searchIndex: MoRef;
  readonly sessionManager: MoRef;
  readonly taskManager?: MoRef;
}

/** One property of an object as RetrievePropertiesEx gave it: its `val` element. */
export type PropertyValues = ReadonlyMap<string, Element>;

export class VimClient {
  private cookie: string | undefined;
  private content: ServiceContent | undefined;
  /** SOAP calls made, by method (the figures of docs/vmware.md). */
  readonly calls = new Map<string, number>();

  private constructor(
    /** https://host[:port] */
    readonly origin: string,
    readonly agent: https.Agent,
  ) {}

  // `endpoint`: a host name or address, with :port when not 443.
  static open(endpoint: string, pin: CertificatePin): VimClient {
    return new VimClient(`https://${endpoint}`, pinnedAgent(pin));
  }

  /** The session cookie header value, for the datastore's file access (a secret). */
  get sessionCookie(): string | undefined {
    return this.cookie;
  }

  async login(username: string, password: string): Promise<void> {
    const content = await this.serviceContent();
    try {
      await this.call(
        'Login',
        `${moRefXml('_this', content.sessionManager)}<userName>${xmlEscape(username)}</userName><password>${xmlEscape(password)}</password>`,
      );
    } catch (error) {
      if (error instanceof VimFault && error.faultType === 'InvalidLogin') {
        throw new SendenseError(
          `vSphere login as ${username} at ${this.origin} failed: wrong user name or password (vm.source.username, passwordEnv/passwordFile)`,
        );
      }
      throw error;
    }
    if (this.cookie === undefined)
      throw new SendenseError(`vSphere at ${this.origin} answered Login without a session cookie`);
  }

  // Ends the session (best effort: a session left times out on the server) and closes the connections.
  async logout(): Promise<void> {
    try {
      if (this.cookie !== undefined && this.content !== undefined)
        await this.call('Logout', moRefXml('_this', this.content.sessionManager));
    } catch {
      // The server forgets it on its own.
    } finally {
      this.cookie = undefined;
      this.agent.destroy();
    }
  }

  async findByInventoryPath(path: string): Promise<MoRef | undefined> {
    const content = await this.serviceContent();
    const answer = await this.call(
      'FindByInventoryPath',
      `${moRefXml('_this', content.searchIndex)}<inventoryPath>${xmlEscape(path)}</inventoryPath>`,
    );
    const found = child(answer, 'returnval');
    return found === undefined ? undefined : moRefOf(found);
  }

  /** The named properties of one object (absent ones left out); undefined when the object does not exist. */
  async properties(obj: MoRef, names: readonly string[]): Promise<PropertyValues | undefined> {
    const content = await this.serviceContent();
    const spec =
      `<specSet><propSet><type>${xmlEscape(obj.type)}</type>${names.map((name) => `<pathSet>${xmlEscape(name)}</pathSet>`).join('')}</propSet>` +
      `<objectSet>${moRefXml('obj', obj)}<skip>false</skip></objectSet></specSet><options/>`;
    let answer: Element;
    try {
      answer = await this.call('RetrievePropertiesEx', `${moRefXml('_this', content.propertyCollector)}${spec}`);
    } catch (error) {
      if (error instanceof VimFault && error.faultType === 'ManagedObjectNotFound') return undefined;
      throw error;
    }
    const values = new Map<string, Element>();
    const objects = child(answer, 'returnval');
    const first = objects === undefined ? undefined : child(objects, 'objects');
    if (first === undefined) return undefined;
    for (const prop of childElements(first, 'propSet')) {
      const name = childText(prop, 'name');
      const val = child(prop, 'val');
      if (name !== undefined && val !== undefined) values.set(name, val);
    }
    return values;
  }

  /** Runs a *_Task method and waits for its end: its result element, or its error as a VimFault. */
  async runTask(method: string, body: string): Promise<Element | undefined> {
    return this.waitForTask(method, await this.startTask(method, body));
  }

  /** Starts a *_Task method: its task, which vSphere runs on whether or not anyone waits for it. */
  async startTask(method: string, body: string): Promise<MoRef> {
    const task = child(await this.call(method, body), 'returnval');
    if (task === undefined) throw new SendenseError(`vSphere answered ${method} without a task`);
    return moRefOf(task);
  }

  /** Waits for a task's end (until `deadline`, ms since the epoch): its result element, or its error as a VimFault. */
  async waitForTask(method: string, ref: MoRef, deadline = Infinity): Promise<Element | undefined> {
    for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
      const state = await this.taskState(ref);
      if (state === undefined)
        throw new VimFault(method, 'ManagedObjectNotFound', `vSphere no longer knows its task ${ref.value}`);
      if (state.state === 'success') return state.result;
      if (state.state === 'error') throw new VimFault(method, state.faultType, state.message ?? 'the task failed');
      if (Date.now() + wait > deadline) throw new TaskStillRunning(method, ref);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /** Where a task stands (queued, running, success, error); undefined when vSphere no longer knows it. */
  async taskState(ref: MoRef): Promise<TaskState | undefined> {
    const info = (await this.properties(ref, ['info']))?.get('info');
    if (info === undefined) return undefined;
    const error = child(info, 'error');
    const fault = error === undefined ? undefined : child(error, 'fault');
    return {
      state: childText(info, 'state') ?? 'queued',
      result: child(info, 'result'),
      faultType: fault === undefined ? undefined : childElementType(fault),
      message: error === undefined ? undefined : childText(error, 'localizedMessage') || undefined,
      descriptionId: childText(info, 'descriptionId'),
      entity: childText(info, 'entity'),
    };
  }

  /** The tasks vSphere lists as recent (running ones, and ended ones for a while). */
  async recentTasks(): Promise<MoRef[]> {
    const { taskManager } = await this.serviceContent();
    if (taskManager === undefined) return [];
    const list = (await this.properties(taskManager, ['recentTask']))?.get('recentTask');
    return list === undefined ? [] : childElements(list, 'ManagedObjectReference').map(moRefOf);
  }

  /** One SOAP call: the element answering it (`<MethodResponse>`), or a VimFault. */
  async call(method: string, body: string): Promise<Element> {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
    const { status, text } = await this.post(envelope(`<${method} xmlns="urn:vim25">${body}</${method}>`));
    const root = parseXml(text);
    if (root === undefined)
      throw new SendenseError(`vSphere at ${this.origin} answered ${method} with HTTP ${status} and no SOAP document`);
    const fault = faultOf(root);
    if (fault !== undefined) throw new VimFault(method, fault.type, fault.message, fault.invalidProperty);
    const answer = descendant(root, `${method}Response`);
    if (answer === undefined)
      throw new SendenseError(
        `vSphere at ${this.origin} answered ${method} with HTTP ${status} and no ${method}Response`,
      );
    return answer;
  }

  private async serviceContent(): Promise<ServiceContent> {
    if (this.content !== undefined) return this.content;
    const answer = await this.call('RetrieveServiceContent', '<_this type="ServiceInstance">ServiceInstance</_this>');
    const value = child(answer, 'returnval');
    const ref = (name: string): MoRef => {
      const found = value === undefined ? undefined : child(value, name);
      if (found === undefined)
        throw new SendenseError(
          `vSphere at ${this.origin} gave no ${name} in its service content: is it a vCenter or ESXi SDK endpoint?`,
        );
      return moRefOf(found);
    };
    const taskManager = value === undefined ? undefined : child(value, 'taskManager');
    this.content = {
      propertyCollector: ref('propertyCollector'),
      searchIndex: ref('searchIndex'),
      sessionManager: ref('sessionManager'),
      ...(taskManager === undefined ? {} : { taskManager: moRefOf(taskManager) }),
    };
    return this.content;
  }

  private post(body: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const request = https.request(
        `${this.origin}/sdk`,
        {
          method: 'POST',
          agent: this.agent,
          timeout: CALL_TIMEOUT_MS,
          headers: {
            'Content-Type': 'text/xml; charset=utf-8',
            SOAPAction: SOAP_ACTION,
            ...(this.cookie === undefined ? {} : { Cookie: `${SESSION_COOKIE}=${this.cookie}` }),
          },
        },
        (response) => {
          const session = (response.headers['set-cookie'] ?? [])
            .map((line) => new RegExp(`^${SESSION_COOKIE}=("[^"]*"|[^;]*)`).exec(line)?.[1])
            .find(Boolean);
          if (session !== undefined) {
            // A secret like the password: masked wherever it could be echoed.
            addSecret(session);
            this.cookie = session;
          }
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
          response.on('error', reject);
        },
      );
      request.on('timeout', () =>
        request.destroy(
          new SendenseError(`vSphere at ${this.origin} did not answer within ${CALL_TIMEOUT_MS / 1000} s`),
        ),
      );
      request.on('error', (error) =>
        reject(
          error instanceof SendenseError
            ? error
            : new SendenseError(`cannot reach vSphere at ${this.origin}: ${error.message}`, { cause: error }),
        ),
      );
      request.end(body);
    });
  }
}

function childElementType(element: Element): string | undefined {
  const type = element.getAttribute('xsi:type');
  return type ? type.replace(/^.*:/, '') : undefined;
}
