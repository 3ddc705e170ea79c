import { factoryNamed } from '../helpers/store-factories.ts';
import { neverTwiceTests } from './suites/never-twice.ts';

neverTwiceTests(factoryNamed('sqlite'));
