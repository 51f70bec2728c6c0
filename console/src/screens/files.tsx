// Files of a point (docs/console.md#files): its filesystems (partitions, LVM volumes, several
// disks), then directories like a file manager; a file downloads as it is, a folder as a ZIP the
// server streams. Paths are NAME:/PATH, as `sendense-run files` takes them.

import { call } from '../api.js';
import type { GuestDirectory, GuestFilesystem, GuestFilesystems } from '../api-types.js';
import { urlOf } from '../api-paths.js';
import { bytes, time } from '../format.js';
import { Link } from '../parts/link.js';
import { Loading, TableBox, useLoad } from '../parts/load.js';

// Filesystems that hold no files to browse, as `files` says (src/files/filesystems.ts readable()).
function browsable(fs: GuestFilesystem): boolean {
  return fs.type !== 'unknown' && fs.type !== 'swap';
}

function filesHref(point: string, path: string): string {
  return `/points/${encodeURIComponent(point)}/files${path ? `?path=${encodeURIComponent(path)}` : ''}`;
}

function join(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

export function Files(props: { readonly point: string; readonly path: string }) {
  const loaded = useLoad(() => call<GuestFilesystems | GuestDirectory>('files', { params: { id: props.point }, query: props.path ? { path: props.path } : {} }), [props.point, props.path]);
  const crumbs = breadcrumbs(props.path);
  return (
    <>
      <h1 tabIndex={-1}>Files of point {props.point}</h1>
      <nav aria-label="Folder path" class="crumbs">
        <ol>
          <li>
            <Link href={filesHref(props.point, '')}>filesystems</Link>
          </li>
          {crumbs.map((crumb) => (
            <li key={crumb.path}>
              <Link href={filesHref(props.point, crumb.path)} aria-current={crumb.path === props.path ? 'page' : undefined}>
                {crumb.label}
              </Link>
            </li>
          ))}
        </ol>
      </nav>
      {props.path && (
        <p>
          <a class="button" href={urlOf('archive', { id: props.point }, { path: props.path, format: 'zip' })} download>
            Download this folder as ZIP
          </a>
        </p>
      )}
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
                    <th scope="row">{browsable(fs) ? <Link href={filesHref(props.point, `${fs.name}:/`)}>{fs.name}</Link> : fs.name}</th>
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
                        {entry.type === 'directory' ? <Link href={filesHref(props.point, path)}>{entry.name}/</Link> : entry.name}
                        {entry.target !== undefined && <span class="muted"> → {entry.target}</span>}
                      </th>
                      <td data-label="Size">{entry.type === 'file' ? bytes(entry.size) : entry.type}</td>
                      <td data-label="Modified">{time(entry.mtime)}</td>
                      <td data-label="Mode" class="mono">
                        {entry.mode}
                      </td>
                      <td class="actions">
                        {entry.type === 'file' && (
                          <a href={urlOf('download', { id: props.point }, { path })} download={entry.name}>
                            Download<span class="sr-only"> {entry.name}</span>
                          </a>
                        )}
                        {entry.type === 'directory' && (
                          <a href={urlOf('archive', { id: props.point }, { path, format: 'zip' })} download>
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
    </>
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
