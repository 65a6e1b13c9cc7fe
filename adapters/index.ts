/**
 * Every provider cloudmount knows, by its descriptor. Adding a provider: a folder under adapters/
 * with a `provider.ts`, and one line here.
 */
import type { ProviderDescriptor } from '../src/provider.js';
import { cloudreveProvider } from './cloudreve/provider.js';
import { couchdropProvider } from './couchdrop/provider.js';
import { memoryProvider } from './memory/provider.js';

export const PROVIDERS: readonly ProviderDescriptor[] = [cloudreveProvider, couchdropProvider, memoryProvider];

/** The descriptor of `type`, or undefined. */
export function providerOf(type: unknown): ProviderDescriptor | undefined {
  return PROVIDERS.find((p) => p.type === type);
}
