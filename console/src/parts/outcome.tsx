// A run's or task's outcome as a badge, its tone by status.

export function Outcome(props: { readonly status: string }) {
  const tone =
    props.status === 'succeeded' || props.status === 'complete'
      ? 'ok'
      : props.status === 'running'
        ? 'run'
        : props.status === 'skipped'
          ? 'skip'
          : 'fail';
  return <span class={`badge ${tone}`}>{props.status}</span>;
}
