// qemu-img and qemu-nbd: images, bitmaps, comparisons, and NBD exports of images (process
// control, which qemu-nbd uses, is src/process/).

export { runLocal, type CommandRunner } from './command-runner.js';
export { imageInfo, type ImageInfo, type BitmapInfo, type ImageInfoOptions } from './image-info.js';
export { createImage, createQcow2, createOverlay, type CreateOptions, type ImageFormat } from './create-image.js';
export { addMarkedBitmaps, bitmapAdd, bitmapRemove, listBitmaps, type Bitmap } from './bitmaps.js';
export { compareImages, type CompareResult, type CompareOptions } from './compare-images.js';
export { startQemuNbd, qemuNbdArgv, type QemuNbd, type QemuNbdOptions, type QemuNbdExit } from './qemu-nbd.js';
export { readNbdGreeting, type NbdAddress } from './nbd-greeting.js';
export { shrinkImage } from './resize-image.js';
