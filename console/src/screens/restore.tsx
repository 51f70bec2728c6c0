// Restore a point (docs/console.md#screens): which disks, the target (image files, a directory of
// images, NBD exports, a new libvirt domain on the hub's host), overwrite and verify; it starts
// the API's ad-hoc restore (POST /api/v1/backups/{id}/restore) and shows the task's live progress
// on the task page. A refused target is the API's own message, its field marked. Its fields:
// ./restore-fields.tsx.

import { useState } from 'preact/hooks';
import { ApiRefusal, call } from '../api.js';
import type { Point, Task } from '../api-types.js';
import { time } from '../format.js';
import { Link } from '../parts/link.js';
import { Loading, useLoad } from '../parts/load.js';
import { navigate } from '../router.js';
import { Check, DiskChoice, TargetFields, type TargetChoice } from './restore-fields.js';

export function RestorePoint(props: { readonly point: string }) {
  const loaded = useLoad(() => call<Point>('point', { params: { id: props.point } }), [props.point]);
  return (
    <>
      <h1 tabIndex={-1}>Restore point {props.point}</h1>
      <div>
        <Loading loaded={loaded}>{(point) => <RestoreForm point={point} />}</Loading>
      </div>
    </>
  );
}

function RestoreForm(props: { readonly point: Point }) {
  const { point } = props;
  const keys = point.disks.map((disk) => String(disk.diskKey));
  const [disks, setDisks] = useState<readonly string[]>(keys);
  const [target, setTarget] = useState<TargetChoice>({
    type: 'directory',
    where: '',
    format: 'qcow2',
    domain: { name: '', start: false, network: 'none' },
  });
  const [overwrite, setOverwrite] = useState(false);
  const [verify, setVerify] = useState(true);
  const [refusal, setRefusal] = useState<{ readonly text: string; readonly field?: string } | undefined>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setRefusal(undefined);
    if (disks.length === 0) return setRefusal({ text: 'Choose at least one disk', field: 'disks' });
    setBusy(true);
    try {
      const body = {
        ...(disks.length === keys.length ? {} : { disks: disks.map(Number) }),
        target: targetBody(target),
        ...(target.type === 'domain' ? {} : { overwrite }),
        verify,
      };
      const task = await call<Task>('restore', { params: { id: point.id }, body });
      navigate(`/tasks/${encodeURIComponent(task.id)}`);
    } catch (failure) {
      setRefusal(
        failure instanceof ApiRefusal ? { text: failure.message, field: failure.field } : { text: String(failure) },
      );
      setBusy(false);
    }
  };
  const wrong = (field: string) => refusal?.field === field || undefined;

  return (
    <>
      <p>
        VM <Link href={`/backups/${encodeURIComponent(point.vm)}`}>{point.vm}</Link>, taken {time(point.startedAt)}, in{' '}
        {point.repository}
      </p>
      <form class="form" onSubmit={(event) => void submit(event)}>
        <DiskChoice keys={keys} chosen={disks} choose={setDisks} invalid={wrong('disks')} />
        <TargetFields
          vm={point.vm}
          target={target}
          change={setTarget}
          invalid={wrong(target.type === 'nbd' ? 'target.url' : 'target.path')}
          invalidDomain={wrong('target.domain')}
        />
        {target.type !== 'nbd' && target.type !== 'domain' && (
          <Check name="overwrite" checked={overwrite} set={setOverwrite} invalid={wrong('overwrite')}>
            Overwrite existing files (replaced only once the restore has succeeded)
          </Check>
        )}
        <Check name="verify" checked={verify} set={setVerify}>
          Verify the restored disks against the backup
        </Check>
        {refusal && (
          <p class="refusal" role="alert">
            {refusal.text}
          </p>
        )}
        <div>
          <button type="submit" disabled={busy}>
            Restore
          </button>
        </div>
      </form>
    </>
  );
}

// The API body's target (docs/api.md#backups).
function targetBody({ type, where, format, domain }: TargetChoice): Record<string, unknown> {
  if (type === 'nbd') return { type, url: where };
  if (type === 'domain')
    return { type, domain: domain.name, path: where, start: domain.start, network: domain.network };
  return { type, path: where, format };
}
