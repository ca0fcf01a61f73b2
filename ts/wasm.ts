// The same API as 'biomeg', with the WebAssembly backend as the default choice.
export * from './index.js';
import { setDefaultBackend } from './backend.js';
setDefaultBackend('wasm');
