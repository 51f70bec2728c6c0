// SQLite dialect whose transactions start with BEGIN IMMEDIATE: the write lock is taken up
// front, so two processes never both read and then deadlock upgrading to write (SQLITE_BUSY),
// and a read-then-claim (port leases, migrations) is atomic across processes.
// kysely's SQLite adapter says DDL is not transactional (so its Migrator would run unlocked);
// SQLite's DDL is transactional, so migrations run in one immediate transaction too.

import {
  CompiledQuery,
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type SqliteDialectConfig,
} from 'kysely';

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

export class ImmediateSqliteDialect implements Dialect {
  readonly #config: SqliteDialectConfig;
  readonly #base: SqliteDialect;

  constructor(config: SqliteDialectConfig) {
    this.#config = config;
    this.#base = new SqliteDialect(config);
  }

  createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }

  createQueryCompiler(): QueryCompiler {
    return this.#base.createQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return this.#base.createIntrospector(db);
  }
}
