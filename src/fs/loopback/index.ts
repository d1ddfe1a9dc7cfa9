export { Loopback, type LoopbackOptions, type PassthroughPolicy } from './loopback';
