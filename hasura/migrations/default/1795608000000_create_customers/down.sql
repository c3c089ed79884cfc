-- Undoes up.sql completely. The trigger and the index go with the table.
DROP TABLE public.customers;
DROP FUNCTION public.set_current_timestamp_updated_at();
