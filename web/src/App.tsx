import { useEffect, useState } from "react";
import { clearUserId, loadUserId, normalizeUserId, saveUserId, STORAGE_KEY } from "./auth/userId";
import { ReportsPage } from "./components/ReportsPage";
import { SignIn } from "./components/SignIn";

export function App() {
  const [userId, setUserId] = useState<string | null>(() => loadUserId());

  // Signing in or out in one tab does the same in the others.
  useEffect(() => {
    const onStorage = (event: StorageEvent) => {
      if (event.key !== STORAGE_KEY && event.key !== null) return;
      setUserId(event.newValue ? normalizeUserId(event.newValue) : null);
    };
    window.addEventListener("storage", onStorage);
    return () => window.removeEventListener("storage", onStorage);
  }, []);

  if (!userId) {
    return (
      <SignIn
        onSignIn={(id) => {
          saveUserId(id);
          setUserId(id);
        }}
      />
    );
  }
  return (
    <ReportsPage
      key={userId}
      userId={userId}
      onSignOut={() => {
        clearUserId();
        setUserId(null);
      }}
    />
  );
}
