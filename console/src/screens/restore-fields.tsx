// The parts of the restore form (./restore.tsx): the disks to restore, the target (its kind, where,
// the image format; a new domain's own fields: ./restore-domain-fields.tsx) and a labelled
// checkbox; a field the API refused is marked invalid.

import { roleAtLeast, useSession } from '../session.js';
import { DomainFields, type DomainChoice } from './restore-domain-fields.js';

export type TargetType = 'directory' | 'file' | 'nbd' | 'domain';
export type ImageFormat = 'qcow2' | 'raw';

export function DiskChoice(props: {
  readonly keys: readonly string[];
  readonly chosen: readonly string[];
  readonly choose: (chosen: readonly string[]) => void;
  readonly invalid?: true;
}) {
  const { keys, chosen, choose } = props;
  const toggle = (key: string, on: boolean) =>
    choose(on ? keys.filter((each) => each === key || chosen.includes(each)) : chosen.filter((each) => each !== key));
  return (
    <fieldset aria-invalid={props.invalid}>
      <legend>Disks</legend>
      {keys.map((key) => (
        <Check key={key} name="disk" value={key} checked={chosen.includes(key)} set={(on) => toggle(key, on)}>
          Disk {key}
        </Check>
      ))}
    </fieldset>
  );
}

export interface TargetChoice {
  readonly type: TargetType;
  readonly where: string;
  readonly format: ImageFormat;
  /** A domain target's name, start and network. */
  readonly domain: DomainChoice;
}

const WHERE_LABEL: Readonly<Record<TargetType, string>> = {
  nbd: 'NBD URL',
  file: 'Image file',
  directory: 'Directory',
  domain: 'Directory of its disk images',
};

export function TargetFields(props: {
  readonly vm: string;
  readonly target: TargetChoice;
  readonly change: (target: TargetChoice) => void;
  readonly invalid?: true;
  readonly invalidDomain?: true;
}) {
  const { target, change } = props;
  const session = useSession();
  const help =
    target.type === 'nbd'
      ? 'nbd://HOST:PORT/NAME or nbd+unix:///NAME?socket=PATH; {key} stands for the disk key when several disks are restored.'
      : target.type === 'file'
        ? 'An absolute path on the hub’s host; {key} stands for the disk key when several disks are restored.'
        : target.type === 'domain'
          ? `An absolute path on the hub’s host: one qcow2 image per disk, named ${target.domain.name || 'DOMAIN'}-KEY.qcow2.`
          : `An absolute path on the hub’s host: one image per disk, named ${props.vm}-KEY.${target.format}.`;
  const value = (event: Event) => (event.target as HTMLInputElement | HTMLSelectElement).value;
  return (
    <>
      <label for="restore-type">Target</label>
      <select
        id="restore-type"
        value={target.type}
        onChange={(e) => change({ ...target, type: value(e) as TargetType })}
      >
        <option value="directory">A directory of image files</option>
        <option value="file">An image file</option>
        <option value="nbd">NBD exports</option>
        {/* Defining a VM on the hub's host is the operator's (docs/api.md#tokens-and-roles). */}
        {roleAtLeast(session, 'operator') && <option value="domain">A new libvirt domain</option>}
      </select>
      {target.type === 'domain' && (
        <DomainFields
          domain={target.domain}
          change={(domain) => change({ ...target, domain })}
          invalid={props.invalidDomain}
        />
      )}
      <label for="restore-where">{WHERE_LABEL[target.type]}</label>
      <input
        id="restore-where"
        required
        value={target.where}
        aria-invalid={props.invalid}
        aria-describedby="restore-where-help"
        onInput={(e) => change({ ...target, where: value(e) })}
      />
      <p id="restore-where-help" class="muted">
        {help}
      </p>
      {target.type !== 'nbd' && target.type !== 'domain' && (
        <>
          <label for="restore-format">Image format</label>
          <select
            id="restore-format"
            value={target.format}
            onChange={(e) => change({ ...target, format: value(e) as ImageFormat })}
          >
            <option value="qcow2">qcow2</option>
            <option value="raw">raw</option>
          </select>
        </>
      )}
    </>
  );
}

export function Check(props: {
  readonly name: string;
  readonly value?: string;
  readonly checked: boolean;
  readonly set: (on: boolean) => void;
  readonly invalid?: true;
  readonly children: preact.ComponentChildren;
}) {
  return (
    <label class="check">
      <input
        type="checkbox"
        name={props.name}
        value={props.value}
        checked={props.checked}
        aria-invalid={props.invalid}
        onChange={(event) => props.set((event.target as HTMLInputElement).checked)}
      />{' '}
      {props.children}
    </label>
  );
}
