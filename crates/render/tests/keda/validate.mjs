// Validate ScaledObjects (JSON files given as arguments) against KEDA's CRD schema.
// Exit 0 when every object validates, 1 otherwise.
import { readFileSync } from 'node:fs';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';

let failed = 0;
for (const file of process.argv.slice(2)) {
  const obj = JSON.parse(readFileSync(file, 'utf8'));
  try {
    new ScaledObject(obj).validate();
    console.log(`${file}: valid ScaledObject`);
  } catch (e) {
    failed++;
    console.error(`${file}: ${e.message}`);
  }
}
process.exit(failed ? 1 : 0);
