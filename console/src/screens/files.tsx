// Files of a point (docs/console.md#screens): with several disks, which disk first; then that
// disk's filesystems (partitions, LVM volumes), then directories like a file manager; a file
// downloads as it is, a folder as a ZIP the server streams. Paths are NAME:/PATH and disks ?disk=KEY,
// as `sendense-run files --disk KEY` takes them.

import { call } from '../api.js';
import type { Point } from '../api-types.js';
import { urlOf } from '../api-paths.js';
import { bytes } from '../format.js';
import { Link } from '../parts/link.js';
import { Loading, TableBox, useLoad } from '../parts/load.js';
import { useCan } from '../session.js';
import { Crumbs } from './files-crumbs.js';
import { useListing, useStartingSeconds } from './files-listing.js';
import { filesHref, onDisk } from './files-links.js';
import { EntryTable, FilesystemTable } from './files-tables.js';

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
              <FilesystemTable point={point} disk={disk} filesystems={answer.filesystems} />
            ) : (
              <EntryTable point={point} disk={disk} folder={answer} />
            )
          }
        </Loading>
      )}
    </>
  );
}
