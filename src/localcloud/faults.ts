/**
 * Faults injected into the local cloud by code in the same process (tests): a request of a given
 * service and operation is refused with a chosen AWS error before the service sees it. There is no
 * HTTP route to this: a tenant, who only reaches the endpoint, cannot inject or clear anything.
 */

/** A request a fault may refuse: who sent it, what it calls, with what. */
export interface FaultRequest {
  service: string;
  /** The API operation, as AWS names it: CreateFunction, UpdateTable, AttachRolePolicy. */
  operation: string;
  region: string;
  accountId: string;
  /** The parsed input: the JSON body (DynamoDB, Lambda, with the FunctionName or Resource of the path), or the query parameters (IAM). */
  input: Record<string, unknown>;
}

export interface FaultError {
  /** The error code the SDKs show as the error's name, e.g. 'NoSuchEntity', 'ResourceInUseException'. */
  name: string;
  message: string;
  /** HTTP status; default 400. */
  status?: number;
}

export interface Fault {
  service: 'iam' | 'lambda' | 'dynamodb';
  operation: string;
  error: FaultError;
  /** How many matching requests it refuses before it is removed; default: every one until removed. */
  times?: number;
  /** Only requests for which this is true (e.g. one account, one role name). */
  when?: (request: FaultRequest) => boolean;
}

/** Faults in force: `inject` returns the function that removes the fault again. */
export interface LocalFaults {
  inject(fault: Fault): () => void;
  /** Removes every fault. */
  clear(): void;
}

export class FaultSet implements LocalFaults {
  private readonly faults = new Set<{ fault: Fault; left: number }>();

  inject(fault: Fault): () => void {
    const times = fault.times ?? Infinity;
    if (!(times > 0)) throw new Error(`a fault's times must be a positive number (got ${fault.times})`);
    const entry = { fault, left: times };
    this.faults.add(entry);
    return () => void this.faults.delete(entry);
  }

  clear(): void {
    this.faults.clear();
  }

  /** Whether any fault is in force for `service` (requests are only parsed for faults when one is). */
  has(service: string): boolean {
    for (const { fault } of this.faults) if (fault.service === service) return true;
    return false;
  }

  /** The error to answer `request` with, if a fault takes it (counting it against the fault's times). */
  take(request: FaultRequest): FaultError | undefined {
    for (const entry of this.faults) {
      const { fault } = entry;
      if (fault.service !== request.service || fault.operation !== request.operation) continue;
      if (fault.when && !fault.when(request)) continue;
      if (--entry.left <= 0) this.faults.delete(entry);
      return fault.error;
    }
    return undefined;
  }
}
