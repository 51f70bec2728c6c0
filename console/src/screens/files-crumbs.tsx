// The Files screen's breadcrumbs: the disks, the filesystems, then the path's folders.

import { Link } from '../parts/link.js';
import { filesHref } from './files-links.js';

// Where the screen is, each step a link back: the disks (when one was chosen), the filesystems, then
// the path's folders.
export function Crumbs(props: {
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
