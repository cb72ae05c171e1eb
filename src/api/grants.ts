// KeyReferenceGrant: lets workloads in other namespaces reference KmsKeys in this namespace (the
// Gateway API ReferenceGrant idea). Without one, a cross-namespace kmsKeyRef is refused.

import Type, { type Static } from 'typebox';
import { namespaceName, objectName } from './shared.ts';

export const KeyReferenceGrantSpec = Type.Object(
  {
    from: Type.Array(
      Type.Object(
        {
          namespace: namespaceName('Namespace whose workloads may reference the keys.'),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 100, description: 'Namespaces granted access.' },
    ),
    to: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: objectName('Name of a KmsKey in this namespace.'),
          },
          { additionalProperties: false },
        ),
        {
          maxItems: 100,
          description: 'KmsKeys that may be referenced; every KmsKey in this namespace when unset.',
        },
      ),
    ),
  },
  { additionalProperties: false },
);
export type KeyReferenceGrantSpec = Static<typeof KeyReferenceGrantSpec>;
