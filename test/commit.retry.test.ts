import { retryCall } from '../src/commit/retry';
import type { NotYetRule } from '../src/commit/types';

// The one retry loop of cloud calls (src/commit/retry.ts), on a fake call: which errors are sent
// again, for how long, and what the caller gets when the time runs out. Pauses are kept tiny.
const FAST = { notYetBackoff: { baseMs: 1, capMs: 2 }, throttling: { attempts: 4, baseMs: 1, capMs: 2 } };
const awsError = (name: string, message = 'x') => Object.assign(new Error(message), { name });
const rule = (over: Partial<NotYetRule> = {}): NotYetRule => ({ operation: 'CreateFunction', error: 'InvalidParameterValueException', forMs: 50, why: 'role not in Lambda yet', ...over });

/** A call failing with `errors` in turn, then answering 'done'; counts its attempts. */
function flaky(...errors: Error[]) {
  const call = async () => {
    call.attempts++;
    const err = errors.shift();
    if (err) throw err;
    return 'done';
  };
  call.attempts = 0;
  return call;
}

test('an error a rule matches is retried until the call succeeds; each retry says why', async () => {
  const call = flaky(awsError('InvalidParameterValueException'), awsError('InvalidParameterValueException'));
  const whys: string[] = [];
  await expect(retryCall(call, { operation: 'CreateFunction', rules: [rule({ forMs: 60_000 })], onRetry: (r) => whys.push(r.why), ...FAST })).resolves.toBe('done');
  expect(call.attempts).toBe(3);
  expect(whys).toEqual(['role not in Lambda yet', 'role not in Lambda yet']);
});

test("bounded: once the rule's time has run out, the cloud's own error comes out", async () => {
  const err = awsError('InvalidParameterValueException', 'The role defined for the function cannot be assumed by Lambda.');
  let attempts = 0;
  const always = async () => {
    attempts++;
    throw err;
  };
  await expect(retryCall(always, { operation: 'CreateFunction', rules: [rule({ forMs: 30 })], ...FAST })).rejects.toBe(err);
  expect(attempts).toBeGreaterThan(1);
});

test('no retry for another operation, another error, a message the rule does not match, or a justCreated rule on an ordinary call', async () => {
  const cases: Array<[Error, NotYetRule, boolean?]> = [
    [awsError('InvalidParameterValueException'), rule({ operation: 'UpdateFunctionCode' })],
    [awsError('ResourceNotFoundException'), rule()],
    [awsError('InvalidParameterValueException', 'Runtime is not supported'), rule({ message: /cannot be assumed/ })],
    [awsError('NoSuchEntityException'), rule({ operation: 'CreateFunction', error: 'NoSuchEntityException', justCreated: true }), false],
  ];
  for (const [err, r, justCreated] of cases) {
    const call = flaky(err);
    await expect(retryCall(call, { operation: 'CreateFunction', rules: [r], justCreated, ...FAST })).rejects.toBe(err);
    expect(call.attempts).toBe(1);
  }
  // The justCreated rule does apply to a call marked as one.
  const marked = flaky(awsError('NoSuchEntityException'));
  await expect(retryCall(marked, { operation: 'CreateFunction', rules: [rule({ error: 'NoSuchEntityException', justCreated: true })], justCreated: true, ...FAST })).resolves.toBe('done');
});

test('throttling is retried per call, up to the attempts, with no rule at all', async () => {
  const ok = flaky(awsError('ThrottlingException'), awsError('TooManyRequestsException'));
  await expect(retryCall(ok, { operation: 'GetRole', rules: [], ...FAST })).resolves.toBe('done');
  expect(ok.attempts).toBe(3);
  const never = flaky(...Array.from({ length: 10 }, () => awsError('ThrottlingException')));
  await expect(retryCall(never, { operation: 'GetRole', rules: [], ...FAST })).rejects.toMatchObject({ name: 'ThrottlingException' });
  expect(never.attempts).toBe(4);
  // DynamoDB's LimitExceededException is no throttling: only a rule (with its message) retries it.
  const quota = flaky(awsError('LimitExceededException', 'Subscriber limit exceeded: There is a limit of 2500 tables per subscriber'));
  await expect(retryCall(quota, { operation: 'CreateTable', rules: [], ...FAST })).rejects.toMatchObject({ name: 'LimitExceededException' });
  expect(quota.attempts).toBe(1);
});

test("an abort ends the wait at once with the signal's reason", async () => {
  const controller = new AbortController();
  const reason = new Error('the caller gave up on this call');
  const always = async () => {
    throw awsError('InvalidParameterValueException');
  };
  const pending = retryCall(always, {
    operation: 'CreateFunction',
    rules: [rule({ forMs: 600_000 })],
    signal: controller.signal,
    notYetBackoff: { baseMs: 60_000, capMs: 60_000 },
    onRetry: () => controller.abort(reason),
  });
  await expect(pending).rejects.toBe(reason);
});
