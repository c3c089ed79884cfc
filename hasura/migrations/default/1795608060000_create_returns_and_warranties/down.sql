-- Undoes up.sql completely. Indexes and foreign keys go with the tables.
DROP TABLE public.warranties;
DROP TABLE public.returns;
