// Files of a point (docs/console.md#screens): with several disks, which disk first; then that
// disk's filesystems (partitions, LVM volumes), then directories like a file manager; a file
// downloads as it is, a folder as a ZIP the server streams. Paths are NAME:/PATH and disks ?disk=KEY,
// as `sendense-run files --disk KEY` takes them.

import { call } from '../api.js';
import type { GuestFilesystem, Point } from '../api-types.js';
import { urlOf } from '../api-paths.js';
import { bytes, time } from '../format.js';
import { Link } from '../parts/link.js';
import { useListing, useStartingSeconds } from './files-listing.js';
import { Loading, TableBox, useLoad } from '../parts/load.js';
import { useCan } from '../session.js';

// Filesystems that hold no files to browse, as `files` says (src/files/filesystems.ts readable()).
function browsable(fs: GuestFilesystem): boolean {
  return fs.type !== 'unknown' && fs.type !== 'swap';
}

// A Files address: no disk is the point's first (the API's default), no path its filesystems.
function filesHref(point: string, disk: string, path: string): string {
  const query = new URLSearchParams({ ...(disk ? { disk } : {}), ...(path ? { path } : {}) }).toString();
  return `/points/${encodeURIComponent(point)}/files${query ? `?${query}` : ''}`;
}

// The API's query for a disk and a path of it (each only when given).
function onDisk(disk: string, query: Readonly<Record<string, string>>): Record<string, string> {
  return { ...(disk ? { disk } : {}), ...query };
}

function join(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

export function Files(props: { readonly point: string; readonly disk: string; readonly path: string }) {
  const can = useCan();
  // Nothing chosen yet: which disk, when the point has several.
  const choosing = props.disk === '' && props.path === '' && can('point');
  return (
    <>
      <h1 tabIndex={-1}>
        Files of point {props.point}
        {props.disk && `, disk ${props.disk}`}
      </h1>
      {/* In its own element: what loads below never moves the heading, which would drop the keyboard's focus. */}
      <div>
        {choosing ? (
          <PointDisks point={props.point} />
        ) : (
          <Folder point={props.point} disk={props.disk} path={props.path} />
        )}
      </div>
    </>
  );
}

// The point's disks to choose from; a point of one disk goes straight to its filesystems.
function PointDisks(props: { readonly point: string }) {
  const loaded = useLoad(() => call<Point>('point', { params: { id: props.point } }), [props.point]);
  return (
    <Loading loaded={loaded}>
      {(point) =>
        point.disks.length <= 1 ? <Folder point={props.point} disk="" path="" /> : <DiskList point={point} />
      }
    </Loading>
  );
}

// Each disk: its key (the link), size and source.
function DiskList(props: { readonly point: Point }) {
  const { id, disks } = props.point;
  return (
    <>
      <Crumbs point={id} disk="" path="" choosing />
      <p>This point has {disks.length} disks: choose one to browse its filesystems.</p>
      <TableBox label="Disks" stack>
        <thead>
          <tr>
            <th scope="col">Disk</th>
            <th scope="col">Size</th>
            <th scope="col">Source</th>
          </tr>
        </thead>
        <tbody>
          {disks.map((disk) => {
            const key = String(disk.diskKey);
            return (
              <tr key={key}>
                <th scope="row">
                  <Link href={filesHref(id, key, '')}>
                    <span class="sr-only">disk </span>
                    {key}
                  </Link>
                </th>
                <td data-label="Size">{bytes(disk.virtualSize)}</td>
                <td data-label="Source">
                  <span class="mono">{disk.source || '-'}</span>
                </td>
              </tr>
            );
          })}
        </tbody>
      </TableBox>
    </>
  );
}

// One disk's filesystems (no path) or one of its folders.
function Folder(props: { readonly point: string; readonly disk: string; readonly path: string }) {
  const { loaded, starting } = useListing(props.point, onDisk(props.disk, props.path ? { path: props.path } : {}));
  const startedSeconds = useStartingSeconds(starting);
  const { point, disk } = props;
  return (
    <>
      <Crumbs point={point} disk={disk} path={props.path} />
      {props.path && (
        <p>
          <a
            class="button"
            href={urlOf('archive', { id: point }, onDisk(disk, { path: props.path, format: 'zip' }))}
            download
          >
            Download this folder as ZIP
          </a>
        </p>
      )}
      {startedSeconds !== undefined && loaded.data === undefined ? (
        <p class="muted" role="status">
          starting the file reader (appliance), {startedSeconds} s
        </p>
      ) : (
        <Loading loaded={loaded}>
          {(answer) =>
            'filesystems' in answer ? (
              <TableBox label="Filesystems" stack>
                <thead>
                  <tr>
                    <th scope="col">Filesystem</th>
                    <th scope="col">Type</th>
                    <th scope="col">Label</th>
                    <th scope="col">Size</th>
                    <th scope="col">OS</th>
                  </tr>
                </thead>
                <tbody>
                  {answer.filesystems.map((fs) => (
                    <tr key={fs.name}>
                      <th scope="row">
                        {browsable(fs) ? <Link href={filesHref(point, disk, `${fs.name}:/`)}>{fs.name}</Link> : fs.name}
                      </th>
                      <td data-label="Type">{browsable(fs) ? fs.type : `${fs.type} (no files to browse)`}</td>
                      <td data-label="Label">{fs.label || '-'}</td>
                      <td data-label="Size">{bytes(fs.size)}</td>
                      <td data-label="OS">{fs.os && fs.os !== 'unknown' ? fs.os : '-'}</td>
                    </tr>
                  ))}
                </tbody>
              </TableBox>
            ) : (
              <TableBox label={`Entries of ${answer.path}`} stack>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Size</th>
                    <th scope="col">Modified</th>
                    <th scope="col">Mode</th>
                    <th scope="col">Download</th>
                  </tr>
                </thead>
                <tbody>
                  {answer.entries.map((entry) => {
                    const path = join(answer.path, entry.name);
                    return (
                      <tr key={entry.name}>
                        <th scope="row">
                          {entry.type === 'directory' ? (
                            <Link href={filesHref(point, disk, path)}>{entry.name}/</Link>
                          ) : (
                            entry.name
                          )}
                          {entry.target !== undefined && <span class="muted"> → {entry.target}</span>}
                        </th>
                        <td data-label="Size">{entry.type === 'file' ? bytes(entry.size) : entry.type}</td>
                        <td data-label="Modified">{time(entry.mtime)}</td>
                        <td data-label="Mode" class="mono">
                          {entry.mode}
                        </td>
                        <td class="actions">
                          {entry.type === 'file' && (
                            <a href={urlOf('download', { id: point }, onDisk(disk, { path }))} download={entry.name}>
                              Download<span class="sr-only"> {entry.name}</span>
                            </a>
                          )}
                          {entry.type === 'directory' && (
                            <a href={urlOf('archive', { id: point }, onDisk(disk, { path, format: 'zip' }))} download>
                              ZIP<span class="sr-only"> of {entry.name}</span>
                            </a>
                          )}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </TableBox>
            )
          }
        </Loading>
      )}
    </>
  );
}

// Where the screen is, each step a link back: the disks (when one was chosen), the filesystems, then
// the path's folders.
function Crumbs(props: {
  readonly point: string;
  readonly disk: string;
  readonly path: string;
  readonly choosing?: boolean;
}) {
  const { point, disk } = props;
  const steps = props.choosing
    ? [{ href: filesHref(point, '', ''), label: 'disks' }]
    : [
        ...(disk ? [{ href: filesHref(point, '', ''), label: 'disks' }] : []),
        { href: filesHref(point, disk, ''), label: disk ? `disk ${disk}` : 'filesystems' },
        ...breadcrumbs(props.path).map((crumb) => ({ href: filesHref(point, disk, crumb.path), label: crumb.label })),
      ];
  return (
    <nav aria-label="Folder path" class="crumbs">
      <ol>
        {steps.map((step, i) => (
          <li key={step.href}>
            <Link href={step.href} aria-current={i === steps.length - 1 ? 'page' : undefined}>
              {step.label}
            </Link>
          </li>
        ))}
      </ol>
    </nav>
  );
}

// "root:/etc/ssh" → root:/, root:/etc, root:/etc/ssh
function breadcrumbs(path: string): { readonly path: string; readonly label: string }[] {
  const colon = path.indexOf(':');
  if (colon < 0) return [];
  const fs = path.slice(0, colon);
  const parts = path
    .slice(colon + 1)
    .split('/')
    .filter(Boolean);
  const crumbs = [{ path: `${fs}:/`, label: `${fs}:/` }];
  parts.forEach((part, i) => crumbs.push({ path: `${fs}:/${parts.slice(0, i + 1).join('/')}`, label: part }));
  return crumbs;
}
