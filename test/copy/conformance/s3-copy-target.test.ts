// The copy target in a bucket (src/copy/targets/s3.ts) runs the conformance suite against a real
// radosgw (./copy-target-suite.ts), each target in a versioned bucket of its own: a killed upload's
// parts are kept by the next put; reclaim deletes the versions the merges left.

import { ListMultipartUploadsCommand, ListPartsCommand, S3Client } from '@aws-sdk/client-s3';
import type { CopyTarget } from '../../../src/copy/copy-target.js';
import { s3CopyTarget } from '../../../src/copy/s3/s3-copy-target.js';
import type { S3CopyTo } from '../../../src/plan/types.js';
import { useS3Server } from '../../support/s3-server.js';
import { copyTargetSuite } from './copy-target-suite.js';

const server = useS3Server();
const PREFIX = 'hub1/copy';
const clients: S3Client[] = [];

function bucketTo(bucket: string): S3CopyTo {
  return {
    type: 's3',
    endpoint: server.s3.endpoint,
    bucket,
    prefix: PREFIX,
    region: 'us-east-1',
    credentials: { accessKeyIdEnv: 'UNUSED_KEY_ID', secretAccessKeyEnv: 'UNUSED_SECRET' },
  };
}

copyTargetSuite('s3', {
  async make(name, say) {
    const bucket = `suite-${name}`;
    await server.s3.makeBucket(bucket, { versioning: true });
    return s3CopyTarget(server.s3.client, bucketTo(bucket), say);
  },
  capabilities: ['download', 'reclaim'],
  async partialLeft(target: CopyTarget, relative: string) {
    const { client } = server.s3;
    const bucket = target.absolute('').split('/')[2]!;
    const key = `${PREFIX}/${relative}`;
    const uploads = (await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }))).Uploads ?? [];
    for (const upload of uploads.filter((each) => each.Key === key)) {
      const parts = await client.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: upload.UploadId }));
      if ((parts.Parts ?? []).length > 0) return true;
    }
    return false;
  },
  resumes: true,
  async refusing(say) {
    await server.s3.makeBucket('suite-refusing', { versioning: true });
    const wrong = new S3Client({
      endpoint: server.s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: server.s3.accessKeyId, secretAccessKey: 'not-the-secret' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    clients.push(wrong);
    return {
      target: s3CopyTarget(wrong, bucketTo('suite-refusing'), say),
      error: /: cannot write vm\/disk-2000\/big\.qcow2: the secret access key is wrong \(SignatureDoesNotMatch\)/,
    };
  },
  async fetch(target, relative, file) {
    await target.capability('download')!(relative, file);
  },
  async done() {
    for (const client of clients) client.destroy();
  },
});
