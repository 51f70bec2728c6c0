// Asking before an action that destroys something or starts a VM: a modal <dialog> (focus stays
// in it, Escape cancels), Cancel focused first so Enter alone never confirms.

import { useEffect, useRef, useState } from 'preact/hooks';

export interface Question {
  readonly title: string;
  readonly text: string;
  readonly confirm: string;
}

export function useConfirm(): { readonly dialog: preact.JSX.Element; ask(question: Question): Promise<boolean> } {
  const [question, setQuestion] = useState<(Question & { readonly answer: (yes: boolean) => void }) | undefined>(
    undefined,
  );
  const ref = useRef<HTMLDialogElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (question && dialog && !dialog.open) {
      dialog.showModal();
      cancelRef.current?.focus();
    }
  }, [question]);
  const close = (yes: boolean) => {
    ref.current?.close();
    question?.answer(yes);
    setQuestion(undefined);
  };
  const dialog = (
    <dialog
      ref={ref}
      class="confirm"
      aria-labelledby="confirm-title"
      aria-describedby="confirm-text"
      onCancel={() => close(false)}
    >
      {question && (
        <form method="dialog" onSubmit={(event) => event.preventDefault()}>
          <h2 id="confirm-title">{question.title}</h2>
          <p id="confirm-text">{question.text}</p>
          <div class="buttons">
            <button type="button" ref={cancelRef} onClick={() => close(false)}>
              Cancel
            </button>
            <button type="button" class="danger" onClick={() => close(true)}>
              {question.confirm}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
  return {
    dialog,
    ask: (asked) => new Promise<boolean>((answer) => setQuestion({ ...asked, answer })),
  };
}
