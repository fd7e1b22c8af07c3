import { loadConfig, resolveConfigPath } from '../config/load.js';
import { ConfigError } from '../config/problems.js';
import type { LoomConfig } from '../config/types.js';

export { ConfigError };

/** Loads and validates config.ini; throws ConfigError listing every problem. */
export function configFor(explicit: string | undefined): LoomConfig {
  const { config, problems } = loadConfig(resolveConfigPath(explicit));
  if (!config) throw new ConfigError(problems);
  return config;
}
