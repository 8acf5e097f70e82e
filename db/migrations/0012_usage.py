from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0011_deny_rules')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ModelCall',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('session', fields.ForeignKeyField('models.ChatSession', source_field='session_id', db_constraint=True, to_field='id', related_name='model_calls', on_delete=OnDelete.CASCADE)),
                ('agent', fields.CharField(max_length=32)),
                ('purpose', fields.CharField(max_length=16)),
                ('prompt_tokens', fields.IntField(null=True)),
                ('completion_tokens', fields.IntField(null=True)),
                ('cached_tokens', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'model_calls', 'app': 'models', 'indexes': [Index(fields=['session_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One call to the model and the tokens it reported (null: it reported none).'},
            bases=['Model'],
        ),
    ]
