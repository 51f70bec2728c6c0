// A Files listing that may have to wait for the point's appliance (docs/console.md#screens): the
// API answers 202 while it starts; asked again as its Retry-After says until the listing comes,
// with how long it has been starting for the screen to count up.

import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiRefusal, callAnswer } from '../api.js';
import type { ApplianceStarting, GuestDirectory, GuestFilesystems } from '../api-types.js';
import type { Loaded } from '../parts/load.js';

export type Listing = GuestFilesystems | GuestDirectory;

/** The appliance's start as last told: its age then, and when (Date.now()) it was told. */
export interface Starting {
  readonly startedSeconds: number;
  readonly toldAt: number;
}

// Asked again after at most this many seconds, whatever Retry-After says (and 3 when it says none).
const MAX_RETRY_SECONDS = 10;

export function useListing(
  point: string,
  query: Readonly<Record<string, string>>,
): { readonly loaded: Loaded<Listing>; readonly starting: Starting | undefined } {
  const [data, setData] = useState<Listing | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [starting, setStarting] = useState<Starting | undefined>(undefined);
  const [round, setRound] = useState(0);
  const key = JSON.stringify(query);
  useEffect(() => {
    let current = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ask = () => {
      callAnswer<Listing | ApplianceStarting>('files', { params: { id: point }, query }).then(
        (answer) => {
          if (!current) return;
          if (answer.status === 202 && 'status' in answer.data) {
            setStarting({ startedSeconds: answer.data.startedSeconds, toldAt: Date.now() });
            timer = setTimeout(ask, Math.min(answer.retryAfter ?? 3, MAX_RETRY_SECONDS) * 1000);
            return;
          }
          setStarting(undefined);
          setData(answer.data as Listing);
          setError(undefined);
        },
        (failure: unknown) => {
          if (!current) return;
          setStarting(undefined);
          setError(failure instanceof ApiRefusal ? failure.message : String(failure));
        },
      );
    };
    ask();
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [point, key, round]);
  const reload = useCallback(() => setRound((n) => n + 1), []);
  return { loaded: { data, error, reload }, starting };
}

/** Seconds the appliance has been starting, counting up each second while it starts. */
export function useStartingSeconds(starting: Starting | undefined): number | undefined {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (starting === undefined) return undefined;
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(tick);
  }, [starting]);
  if (starting === undefined) return undefined;
  return starting.startedSeconds + Math.max(0, Math.floor((now - starting.toldAt) / 1000));
}
