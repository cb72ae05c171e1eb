// What the operator knows about a KMS key after reading it: DescribeKey's metadata plus rotation
// state, normalised so plan functions and checks never touch SDK shapes.

export interface KeyFacts {
  keyId: string;
  arn: string;
  accountId: string;
  region: string;
  state: string;
  keySpec: string;
  keyUsage: string;
  keyManager: string;
  origin: string;
  multiRegion: boolean;
  deletionDate?: string;
  currentKeyMaterialId?: string;
  description?: string;
}

export interface RotationFacts {
  enabled: boolean;
  periodInDays?: number;
  nextRotationDate?: string;
  onDemandRotationStartDate?: string;
  /** Newest first. */
  recent: Array<{ date: string; type: 'AUTOMATIC' | 'ON_DEMAND'; keyMaterialId?: string }>;
}

/** `arn:aws:kms:eu-west-1:111122223333:key/<id>` -> its parts, or undefined. */
export function parseKeyArn(
  arn: string,
): { partition: string; region: string; accountId: string; keyId: string } | undefined {
  const m = /^arn:(aws[a-z-]*):kms:([a-z0-9-]+):(\d{12}):key\/(.+)$/.exec(arn);
  return m ? { partition: m[1]!, region: m[2]!, accountId: m[3]!, keyId: m[4]! } : undefined;
}
