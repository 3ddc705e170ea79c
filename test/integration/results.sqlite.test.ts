import { factoryNamed } from '../helpers/store-factories.ts';
import { resultsTests } from './suites/results.ts';

resultsTests(factoryNamed('sqlite'));
