import { factoryNamed } from '../helpers/store-factories.ts';
import { limitsTests } from './suites/limits.ts';

limitsTests(factoryNamed('postgres'));
