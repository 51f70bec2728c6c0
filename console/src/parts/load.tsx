// Loading what a screen shows: the answer, or the API's refusal text as it is.

import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiRefusal } from '../api.js';

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: string | undefined;
  reload(): void;
}

export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [round, setRound] = useState(0);
  useEffect(() => {
    let current = true;
    load().then(
      (answer) => {
        if (!current) return;
        setData(answer);
        setError(undefined);
      },
      (failure: unknown) => {
        if (current) setError(failure instanceof ApiRefusal ? failure.message : String(failure));
      },
    );
    return () => {
      current = false;
    };
  }, [...deps, round]);
  const reload = useCallback(() => setRound((n) => n + 1), []);
  return { data, error, reload };
}

/** The refusal's text as the API wrote it (an alert, so a screen reader says it). */
export function Refusal(props: { readonly text: string | undefined }) {
  if (!props.text) return null;
  return (
    <p class="refusal" role="alert">
      {props.text}
    </p>
  );
}

export function Loading<T>(props: { readonly loaded: Loaded<T>; readonly children: (data: T) => ComponentChildren }) {
  if (props.loaded.error !== undefined && props.loaded.data === undefined) return <Refusal text={props.loaded.error} />;
  if (props.loaded.data === undefined) return <p class="muted">Loading…</p>;
  return (
    <>
      <Refusal text={props.loaded.error} />
      {props.children(props.loaded.data)}
    </>
  );
}

/**
 * A table that scrolls sideways on a narrow screen (focusable so the keyboard can scroll it); with
 * `stack`, each row becomes a card there instead, its cells labelled by their data-label.
 */
export function TableBox(props: {
  readonly label: string;
  readonly stack?: boolean;
  readonly children: ComponentChildren;
}) {
  return (
    <div class="table-box" tabIndex={0} role="region" aria-label={props.label}>
      <table class={props.stack ? 'stack' : undefined}>{props.children}</table>
    </div>
  );
}
