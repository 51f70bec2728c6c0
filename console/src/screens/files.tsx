// Files of a point (docs/console.md#files): its filesystems (partitions, LVM volumes, several
// disks), then directories like a file manager; a file downloads as it is, a folder as a ZIP the
// server streams. Paths are NAME:/PATH, as `sendense-run files` takes them.

import { call } from '../api.js';
import type { GuestEntry, GuestFilesystem } from '../api-types.js';
import { urlOf } from '../api-paths.js';
import { bytes, time } from '../format.js';
import { Link } from '../parts/link.js';
import { Loading, TableBox, useLoad } from '../parts/load.js';

// The listing's rows whatever envelope the answer has (an array, or an object holding one).
function rows<T>(answer: unknown): T[] {
  if (Array.isArray(answer)) return answer as T[];
  if (answer && typeof answer === 'object') for (const value of Object.values(answer)) if (Array.isArray(value)) return value as T[];
  return [];
}

function filesHref(point: string, path: string): string {
  return `/points/${encodeURIComponent(point)}/files${path ? `?path=${encodeURIComponent(path)}` : ''}`;
}

function join(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

export function Files(props: { readonly point: string; readonly path: string }) {
  const loaded = useLoad(() => call<unknown>('files', { params: { id: props.point }, query: props.path ? { path: props.path } : {} }), [props.point, props.path]);
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
          props.path === '' ? (
            <TableBox label="Filesystems">
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
                {rows<GuestFilesystem>(answer).map((fs) => (
                  <tr key={fs.name}>
                    <th scope="row">
                      <Link href={filesHref(props.point, `${fs.name}:/`)}>{fs.name}</Link>
                    </th>
                    <td>{fs.type ?? '-'}</td>
                    <td>{fs.label || '-'}</td>
                    <td>{bytes(fs.size)}</td>
                    <td>{fs.os ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </TableBox>
          ) : (
            <TableBox label={`Entries of ${props.path}`}>
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
                {rows<GuestEntry>(answer).map((entry) => {
                  const path = join(props.path, entry.name);
                  return (
                    <tr key={entry.name}>
                      <th scope="row">
                        {entry.type === 'directory' ? <Link href={filesHref(props.point, path)}>{entry.name}/</Link> : entry.name}
                        {entry.target !== undefined && <span class="muted"> → {entry.target}</span>}
                      </th>
                      <td>{entry.type === 'file' ? bytes(entry.size) : entry.type}</td>
                      <td>{time(entry.mtime)}</td>
                      <td class="mono">{entry.mode ?? ''}</td>
                      <td>
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
