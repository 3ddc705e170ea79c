import { factoryNamed } from '../helpers/store-factories.ts';
import { faultsTests } from './suites/faults.ts';

faultsTests(factoryNamed('sqlite'));
