import { useEffect, useState } from "react";
import { msUntilNextDay } from "./format";

/** A moment of the current local day, renewed at midnight, so that a page left open overnight
 *  adds the date to yesterday's times. */
export function useToday(): Date {
  const [today, setToday] = useState(() => new Date());
  useEffect(() => {
    // A timer that fires a little early finds the same day and sets a new one for the rest.
    const timer = setTimeout(() => setToday(new Date()), msUntilNextDay(today) + 100);
    return () => clearTimeout(timer);
  }, [today]);
  return today;
}
