// A disk's filesystems and a folder's entries as tables: each a link further in, a file its
// download, a folder its ZIP.

import type { GuestDirectory, GuestFilesystem } from '../api-types.js';
import { urlOf } from '../api-paths.js';
import { bytes, time } from '../format.js';
import { Link } from '../parts/link.js';
import { TableBox } from '../parts/load.js';
import { filesHref, onDisk } from './files-links.js';

// Filesystems that hold no files to browse, as `files` says (src/files/filesystems.ts readable()).
function browsable(fs: GuestFilesystem): boolean {
  return fs.type !== 'unknown' && fs.type !== 'swap';
}

function join(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

export function FilesystemTable(props: {
  readonly point: string;
  readonly disk: string;
  readonly filesystems: readonly GuestFilesystem[];
}) {
  const { point, disk } = props;
  return (
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
        {props.filesystems.map((fs) => (
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
  );
}

export function EntryTable(props: { readonly point: string; readonly disk: string; readonly folder: GuestDirectory }) {
  const { point, disk, folder } = props;
  return (
    <TableBox label={`Entries of ${folder.path}`} stack>
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
        {folder.entries.map((entry) => {
          const path = join(folder.path, entry.name);
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
  );
}
