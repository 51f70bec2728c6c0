// Restore a point (docs/console.md#screens): which disks, the target (image files, a directory of
// images, NBD exports on the hub's host), overwrite and verify; it starts the API's ad-hoc restore
// (POST /api/v1/backups/{id}/restore) and shows the task's live progress on the task page. A
// refused target is the API's own message, its field marked.

import { useState } from 'preact/hooks';
import { ApiRefusal, call } from '../api.js';
import type { Point, Task } from '../api-types.js';
import { time } from '../format.js';
import { Link } from '../parts/link.js';
import { Loading, useLoad } from '../parts/load.js';
import { navigate } from '../router.js';

type TargetType = 'directory' | 'file' | 'nbd';

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
  const [type, setType] = useState<TargetType>('directory');
  const [where, setWhere] = useState('');
  const [format, setFormat] = useState<'qcow2' | 'raw'>('qcow2');
  const [overwrite, setOverwrite] = useState(false);
  const [verify, setVerify] = useState(true);
  const [refusal, setRefusal] = useState<{ readonly text: string; readonly field?: string } | undefined>();
  const [busy, setBusy] = useState(false);

  const toggle = (key: string, on: boolean) =>
    setDisks(on ? keys.filter((each) => each === key || disks.includes(each)) : disks.filter((each) => each !== key));
  const submit = async (event: Event) => {
    event.preventDefault();
    setRefusal(undefined);
    if (disks.length === 0) return setRefusal({ text: 'Choose at least one disk', field: 'disks' });
    setBusy(true);
    try {
      const target = type === 'nbd' ? { type, url: where } : { type, path: where, format };
      const body = {
        ...(disks.length === keys.length ? {} : { disks: disks.map(Number) }),
        target,
        overwrite,
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
  const whereLabel = type === 'nbd' ? 'NBD URL' : type === 'file' ? 'Image file' : 'Directory';
  const whereHelp =
    type === 'nbd'
      ? 'nbd://HOST:PORT/NAME or nbd+unix:///NAME?socket=PATH; {key} stands for the disk key when several disks are restored.'
      : type === 'file'
        ? 'An absolute path on the hub’s host; {key} stands for the disk key when several disks are restored.'
        : `An absolute path on the hub’s host: one image per disk, named ${point.vm}-KEY.${format}.`;

  return (
    <>
      <p>
        VM <Link href={`/backups/${encodeURIComponent(point.vm)}`}>{point.vm}</Link>, taken {time(point.startedAt)}, in{' '}
        {point.repository}
      </p>
      <form class="form" onSubmit={(event) => void submit(event)}>
        <fieldset aria-invalid={wrong('disks')}>
          <legend>Disks</legend>
          {keys.map((key) => (
            <label key={key} class="check">
              <input
                type="checkbox"
                name="disk"
                value={key}
                checked={disks.includes(key)}
                onChange={(event) => toggle(key, (event.target as HTMLInputElement).checked)}
              />{' '}
              Disk {key}
            </label>
          ))}
        </fieldset>
        <label for="restore-type">Target</label>
        <select
          id="restore-type"
          value={type}
          onChange={(event) => setType((event.target as HTMLSelectElement).value as TargetType)}
        >
          <option value="directory">A directory of image files</option>
          <option value="file">An image file</option>
          <option value="nbd">NBD exports</option>
        </select>
        <label for="restore-where">{whereLabel}</label>
        <input
          id="restore-where"
          required
          value={where}
          aria-invalid={wrong(type === 'nbd' ? 'target.url' : 'target.path')}
          aria-describedby="restore-where-help"
          onInput={(event) => setWhere((event.target as HTMLInputElement).value)}
        />
        <p id="restore-where-help" class="muted">
          {whereHelp}
        </p>
        {type !== 'nbd' && (
          <>
            <label for="restore-format">Image format</label>
            <select
              id="restore-format"
              value={format}
              onChange={(event) => setFormat((event.target as HTMLSelectElement).value as 'qcow2' | 'raw')}
            >
              <option value="qcow2">qcow2</option>
              <option value="raw">raw</option>
            </select>
            <label class="check">
              <input
                type="checkbox"
                name="overwrite"
                checked={overwrite}
                aria-invalid={wrong('overwrite')}
                onChange={(event) => setOverwrite((event.target as HTMLInputElement).checked)}
              />{' '}
              Overwrite existing files (replaced only once the restore has succeeded)
            </label>
          </>
        )}
        <label class="check">
          <input
            type="checkbox"
            name="verify"
            checked={verify}
            onChange={(event) => setVerify((event.target as HTMLInputElement).checked)}
          />{' '}
          Verify the restored disks against the backup
        </label>
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
