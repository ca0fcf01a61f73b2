// Compile-time check that both generated binding declaration files implement BindingApi:
// bindings/node/index.d.ts (napi-rs) and bindings/wasm/pkg/biomeg_wasm.d.ts (wasm-bindgen).
// Nothing here runs or is exported; `tsc -p tsconfig.json` (scripts/build-ts.mjs) and
// scripts/check-api.mjs fail when a class, method or function is missing on one side or its
// parameter / return types do not fit. (Parameter NAMES are not part of a TS type; they are not
// checked.) Build the bindings first (scripts/build-native.sh, scripts/build-wasm.sh).
// biome-ignore-all lint/correctness/noUnusedVariables: the type aliases below are the checks; tsc checks them unused.
import type { BindingApi } from './binding.js';
import type * as NativeBinding from '../bindings/node/index.js';
import type * as WasmBinding from '../bindings/wasm/pkg/biomeg_wasm.js';

type Implements<T extends BindingApi> = T;

// An error on one of these lines names the member that does not fit.
type NativeImplementsBindingApi = Implements<typeof NativeBinding>;
type WasmImplementsBindingApi = Implements<typeof WasmBinding>;

// Nor may a binding export something the interface does not describe (a new function must be
// added to BindingApi, which keeps the two bindings' surfaces equal). wasm-bindgen's own
// instantiation exports are not API.
type WasmOnly = 'default' | 'initSync' | 'install_panic_hook' | 'InitInput' | 'InitOutput' | 'SyncInitInput';
type Extra<M> = Exclude<keyof M, keyof BindingApi | WasmOnly>;
type NoExtra<M, K extends never> = [M, K];
type NativeHasNoExtra = NoExtra<typeof NativeBinding, Extra<typeof NativeBinding>>;
type WasmHasNoExtra = NoExtra<typeof WasmBinding, Extra<typeof WasmBinding>>;

// Not exported: the declaration emitted for this file stays `export {}` (its imports point
// outside dist/). tsc checks a type alias's constraints whether or not it is used.
