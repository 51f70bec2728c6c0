// A new libvirt domain as the restore's target (docs/console.md#screens): its name, whether it
// starts, and its network (none: no interface, so a copy never clashes with the original).

export interface DomainChoice {
  readonly name: string;
  readonly start: boolean;
  readonly network: 'none' | 'keep';
}

export function DomainFields(props: {
  readonly domain: DomainChoice;
  readonly change: (domain: DomainChoice) => void;
  readonly invalid?: true;
}) {
  const { domain, change } = props;
  const value = (event: Event) => (event.target as HTMLInputElement | HTMLSelectElement).value;
  return (
    <>
      <label for="restore-domain">Domain name</label>
      <input
        id="restore-domain"
        required
        value={domain.name}
        aria-invalid={props.invalid}
        aria-describedby="restore-domain-help"
        onInput={(e) => change({ ...domain, name: value(e) })}
      />
      <p id="restore-domain-help" class="muted">
        A new domain on the hub’s host, defined from the XML stored with the point: new UUID and MAC addresses, none of
        the original’s host devices. A name that exists is refused.
      </p>
      <label for="restore-network">Network</label>
      <select
        id="restore-network"
        value={domain.network}
        onChange={(e) => change({ ...domain, network: value(e) as DomainChoice['network'] })}
      >
        <option value="none">No network interface</option>
        <option value="keep">The original’s networks, new MAC addresses</option>
      </select>
      <label class="check">
        <input
          type="checkbox"
          name="start"
          checked={domain.start}
          onChange={(e) => change({ ...domain, start: (e.target as HTMLInputElement).checked })}
        />{' '}
        Start the new domain once it is defined
      </label>
    </>
  );
}
