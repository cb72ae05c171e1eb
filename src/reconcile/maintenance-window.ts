// Maintenance windows: when disruptive actions (a Flink restart, an EMR stop) may start. Pure.

export interface MaintenanceWindow {
  days?: Array<'Mon' | 'Tue' | 'Wed' | 'Thu' | 'Fri' | 'Sat' | 'Sun'>;
  /** HH:MM, UTC. */
  start: string;
  durationMinutes: number;
}

const dayNames = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const dayMs = 86_400_000;

function startsOn(window: MaintenanceWindow, dayStart: number): number | undefined {
  const [h, m] = window.start.split(':').map(Number);
  if (h === undefined || m === undefined || Number.isNaN(h) || Number.isNaN(m)) return undefined;
  const day = dayNames[new Date(dayStart).getUTCDay()]!;
  if (window.days && window.days.length > 0 && !window.days.includes(day)) return undefined;
  return dayStart + (h * 60 + m) * 60_000;
}

/** Whether `now` is inside the window (no window: always). A window may run past midnight. */
export function inMaintenanceWindow(now: number, window: MaintenanceWindow | undefined): boolean {
  if (!window) return true;
  const today = Math.floor(now / dayMs) * dayMs;
  for (const dayStart of [today, today - dayMs]) {
    const start = startsOn(window, dayStart);
    if (start !== undefined && now >= start && now < start + window.durationMinutes * 60_000) return true;
  }
  return false;
}

/** The next time the window opens after `now` (ms), or undefined when it never does. */
export function nextWindowOpening(now: number, window: MaintenanceWindow | undefined): number | undefined {
  if (!window) return now;
  const today = Math.floor(now / dayMs) * dayMs;
  for (let d = 0; d <= 7; d++) {
    const start = startsOn(window, today + d * dayMs);
    if (start !== undefined && start > now) return start;
  }
  return undefined;
}
